"""Database backends: Django's, with what EnergyLab needs changed."""
