"""Which known pods a new pod's name is close to: a start naming an unknown pod creates it (the
legacy contract), so a typo (``Demo Lab`` for ``demo-lab``, a trailing space) would otherwise
silently record into a new, empty pod."""

from __future__ import annotations

import difflib
import re

from collectors.models import Pod

#: how many close names an answer gives at most
MAX_SIMILAR = 3
# difflib's default: below it two names share too little to be a typo of each other
_CUTOFF = 0.6
_SEPARATORS = re.compile(r"[\s_.-]+")


def comparable(name: str) -> str:
    """The name as a typo is judged: case, surrounding spaces and separators left out."""
    return _SEPARATORS.sub("-", name.strip().casefold()).strip("-")


def similar_pod_names(name: str, limit: int = MAX_SIMILAR) -> list[str]:
    """The names of the known pods other than ``name`` closest to it, closest first (difflib's
    ratio on :func:`comparable` forms; a pod equal to it but for case or separators first)."""
    others = Pod.objects.exclude(name=name).values_list("name", flat=True)
    by_form: dict[str, list[str]] = {}
    for other in others:
        by_form.setdefault(comparable(other), []).append(other)
    wanted = comparable(name)
    found: list[str] = []
    for form in difflib.get_close_matches(wanted, list(by_form), n=limit, cutoff=_CUTOFF):
        found.extend(sorted(by_form[form]))
    return found[:limit]
