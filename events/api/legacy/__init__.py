"""The OPNFV energy recorder's ``/resources`` API, served on EnergyLab's runs and sample buffer.

The contract is /work/shared/legacy-api.md (docs/legacy-api.md): paths, bodies and answers as the
old clients (Functest's and Xtesting's ``energy.py``, collectors, curl scripts) expect them.
"""
