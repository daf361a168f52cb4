"""Errors of EnergyLab's own that every API answers the same way.

The apps raise subclasses of these; :mod:`energylab.api.exceptions` turns them into answers
without knowing the apps (the plumbing sits below them and imports none of them).
"""

from __future__ import annotations


class RefusedRequest(Exception):
    """A request that cannot be carried out; ``status`` is the HTTP status that says why."""

    status = 400


class ServiceDown(Exception):
    """A service the request needs does not answer: nothing of the request was stored.

    ``service`` names it in the answer (a 503 the client should retry).
    """

    service = "a service"
