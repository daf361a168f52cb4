"""The project's fixtures live in :mod:`energylab.testing`, a pytest plugin."""

pytest_plugins = ["energylab.testing"]
