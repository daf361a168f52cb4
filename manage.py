#!/usr/bin/env python
"""Django's command-line utility for EnergyLab."""

from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "energylab.settings")
    from energylab.env import ConfigurationError

    try:
        from django.core.management import execute_from_command_line

        execute_from_command_line(sys.argv)
    except ConfigurationError as exc:
        sys.exit(f"energylab: configuration error: {exc}")


if __name__ == "__main__":
    main()
