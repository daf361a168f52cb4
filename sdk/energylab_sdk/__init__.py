"""EnergyLab SDK: tell an EnergyLab server which scenario and step run on a pod.

    import energylab_sdk as energy

    @energy.enable_recording
    def run(self): ...

Every call is fail-safe and cheap: events are sent in order by one background thread.
"""

from __future__ import annotations

from ._api import (
    Energy,
    Recording,
    StepChange,
    configure,
    enable_recording,
    flush,
    recording,
    set_step,
    step,
)

__version__ = "0.1.0"

# Functest/Xtesting name of the same class.
EnergyRecorder = Energy

__all__ = [
    "Energy",
    "EnergyRecorder",
    "Recording",
    "StepChange",
    "__version__",
    "configure",
    "enable_recording",
    "flush",
    "recording",
    "set_step",
    "step",
]
