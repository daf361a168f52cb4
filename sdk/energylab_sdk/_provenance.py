"""Where a run comes from: its commit, branch, CI job, build and labels.

Resolved per field: explicit argument → ``ENERGYLAB_*`` variable → detected from the CI's own
variables (GitHub Actions, GitLab CI, Zuul, Jenkins). Detection reads ``os.environ`` once per
process (cached); nothing here touches the network or raises. Values the server would refuse
(control characters, too long, a job URL that is not http(s)) are dropped with a warning, so
that provenance can never cost the run its start event.
"""

from __future__ import annotations

import logging
import os
import threading
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

logger = logging.getLogger("energylab_sdk")

TEXT_FIELDS = ("commit", "branch", "ci_url", "ci_system", "build")
FIELDS = (*TEXT_FIELDS, "labels")

# The server's limits (events/provenance.py): what is sent is never refused.
MAX_LENGTH = {"commit": 64, "branch": 255, "ci_url": 2000, "ci_system": 32, "build": 64}
LABELS_MAX = 32
LABEL_KEY_MAX_LENGTH = 64
LABEL_VALUE_MAX_LENGTH = 200

ENV_VARS = {
    "commit": "ENERGYLAB_COMMIT",
    "branch": "ENERGYLAB_BRANCH",
    "ci_url": "ENERGYLAB_CI_URL",
    "ci_system": "ENERGYLAB_CI_SYSTEM",
    "build": "ENERGYLAB_BUILD",
    "labels": "ENERGYLAB_LABELS",
}

_REFUSED_CATEGORIES = {"Cc", "Cs", "Zl", "Zp"}  # as the server's validators


def _get(environ: Mapping[str, str], *names: str) -> str:
    """The first of ``names`` set to something other than blanks, stripped; else ``""``."""
    for name in names:
        value = environ.get(name, "").strip()
        if value:
            return value
    return ""


def _github(env: Mapping[str, str]) -> dict[str, str] | None:
    if env.get("GITHUB_ACTIONS", "").lower() != "true":
        return None
    server = _get(env, "GITHUB_SERVER_URL") or "https://github.com"
    repository, run_id = _get(env, "GITHUB_REPOSITORY"), _get(env, "GITHUB_RUN_ID")
    return {
        "ci_system": "github",
        "commit": _get(env, "GITHUB_SHA"),
        # A pull request's GITHUB_REF_NAME is "<number>/merge"; its branch is GITHUB_HEAD_REF.
        "branch": _get(env, "GITHUB_HEAD_REF", "GITHUB_REF_NAME"),
        "ci_url": f"{server.rstrip('/')}/{repository}/actions/runs/{run_id}"
        if repository and run_id
        else "",
        "build": _get(env, "GITHUB_RUN_NUMBER"),
    }


def _gitlab(env: Mapping[str, str]) -> dict[str, str] | None:
    if env.get("GITLAB_CI", "").lower() != "true":
        return None
    return {
        "ci_system": "gitlab",
        "commit": _get(env, "CI_COMMIT_SHA"),
        "branch": _get(env, "CI_COMMIT_REF_NAME"),
        "ci_url": _get(env, "CI_JOB_URL"),
        "build": _get(env, "CI_PIPELINE_ID"),
    }


def _zuul(env: Mapping[str, str]) -> dict[str, str] | None:
    # Zuul v2 exported ZUUL_* variables to its (Jenkins) jobs; Zuul v3 has zuul.* Ansible
    # variables instead, which a job maps to these names (docs/ci.md).
    if not _get(env, "ZUUL_COMMIT", "ZUUL_NEWREV", "ZUUL_UUID", "ZUUL_BUILD"):
        return None
    return {
        "ci_system": "zuul",
        "commit": _get(env, "ZUUL_COMMIT", "ZUUL_NEWREV"),
        "branch": _get(env, "ZUUL_BRANCH"),
        "ci_url": _get(env, "ZUUL_BUILD_URL", "BUILD_URL"),
        "build": _get(env, "ZUUL_BUILD", "ZUUL_UUID"),
    }


def _jenkins(env: Mapping[str, str]) -> dict[str, str] | None:
    if not (_get(env, "JENKINS_URL") or (_get(env, "BUILD_URL") and _get(env, "BUILD_NUMBER"))):
        return None
    branch = _get(env, "BRANCH_NAME")  # multibranch pipelines
    if not branch:
        # The Git plugin's GIT_BRANCH names the remote: "origin/main".
        branch = _get(env, "GIT_BRANCH")
        for prefix in ("refs/heads/", "origin/"):  # str.removeprefix: Python 3.9
            if branch.startswith(prefix):
                branch = branch[len(prefix) :]
    return {
        "ci_system": "jenkins",
        "commit": _get(env, "GIT_COMMIT"),
        "branch": branch,
        "ci_url": _get(env, "BUILD_URL"),
        "build": _get(env, "BUILD_NUMBER"),
    }


#: every variable detection reads (tests clear them)
CI_VARIABLES = (
    *("GITHUB_ACTIONS", "GITHUB_SHA", "GITHUB_HEAD_REF", "GITHUB_REF_NAME", "GITHUB_SERVER_URL"),
    *("GITHUB_REPOSITORY", "GITHUB_RUN_ID", "GITHUB_RUN_NUMBER"),
    *("GITLAB_CI", "CI_COMMIT_SHA", "CI_COMMIT_REF_NAME", "CI_JOB_URL", "CI_PIPELINE_ID"),
    *("ZUUL_COMMIT", "ZUUL_NEWREV", "ZUUL_UUID", "ZUUL_BUILD", "ZUUL_BRANCH", "ZUUL_BUILD_URL"),
    *("JENKINS_URL", "BUILD_URL", "BUILD_NUMBER", "BRANCH_NAME", "GIT_BRANCH", "GIT_COMMIT"),
)

# Zuul before Jenkins: Zuul v2 ran its jobs on Jenkins, whose variables are then set too.
DETECTORS: tuple[Callable[[Mapping[str, str]], dict[str, str] | None], ...] = (
    _github,
    _gitlab,
    _zuul,
    _jenkins,
)


def detect(environ: Mapping[str, str]) -> dict[str, str]:
    """The provenance the CI's variables in ``environ`` give (blanks left out); ``{}`` outside
    a known CI."""
    for detector in DETECTORS:
        found = detector(environ)
        if found is not None:
            return {name: value for name, value in found.items() if value}
    return {}


_detected: dict[str, str] | None = None
_detected_lock = threading.Lock()


def detected() -> dict[str, str]:
    """:func:`detect` of this process's environment, computed once (a CI job's variables do not
    change while it runs)."""
    global _detected
    if _detected is None:
        with _detected_lock:
            if _detected is None:
                _detected = detect(os.environ)
    return _detected


def _forget_detected() -> None:
    """Detect again on next use (tests)."""
    global _detected
    _detected = None


def parse_labels(value: Any) -> dict[str, str]:
    """Labels from a mapping, from ``"k=v,k2=v2"`` (``ENERGYLAB_LABELS``) or from an iterable
    of ``"k=v"`` (CLI flags). A pair without ``=`` is a label with an empty value."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return {str(k): "" if v is None else str(v) for k, v in value.items()}
    items: Iterable[Any] = value.split(",") if isinstance(value, str) else value
    labels: dict[str, str] = {}
    for item in items:
        key, _, label = str(item).partition("=")
        if key.strip():
            labels[key.strip()] = label.strip()
    return labels


def _printable(value: str) -> bool:
    return not any(unicodedata.category(char) in _REFUSED_CATEGORIES for char in value)


def _why_not_text(name: str, value: str) -> str | None:
    if len(value) > MAX_LENGTH[name]:
        return f"longer than {MAX_LENGTH[name]} characters"
    if not _printable(value):
        return "holds a control character"
    if name == "ci_url":
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or " " in value:
            return "not an http(s) URL"
    return None


def _why_not_label(key: str, value: str) -> str | None:
    if (
        not key
        or len(key) > LABEL_KEY_MAX_LENGTH
        or ":" in key
        or '"' in key
        or not _printable(key)
    ):
        return f'a label name has 1 to {LABEL_KEY_MAX_LENGTH} printable characters, no : or "'
    if len(value) > LABEL_VALUE_MAX_LENGTH or not _printable(value):
        return f"a label value has at most {LABEL_VALUE_MAX_LENGTH} printable characters"
    return None


def resolve(
    explicit: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The provenance to send with a start event: only the fields known, ``labels`` only when
    there are some. ``explicit`` holds what ``configure()`` or the CLI were given (a field
    given as None or ``""`` is not sent, whatever the environment says). Never raises."""
    env: Mapping[str, str] = os.environ if environ is None else environ
    found = detected() if environ is None else detect(env)
    out: dict[str, Any] = {}
    for name in TEXT_FIELDS:
        if name in explicit:
            value = "" if explicit[name] is None else str(explicit[name]).strip()
        else:
            value = _get(env, ENV_VARS[name]) or found.get(name, "")
        why = _why_not_text(name, value) if value else None
        if why:
            logger.warning("energylab: not sending %s %r: %s", name, value[:80], why)
        elif value:
            out[name] = value
    # Labels add up: ENERGYLAB_LABELS, then the explicit ones (labels=None: none at all).
    no_labels = "labels" in explicit and explicit["labels"] is None
    labels = {} if no_labels else parse_labels(env.get(ENV_VARS["labels"], ""))
    try:
        labels.update(parse_labels(explicit.get("labels")))
    except Exception:  # a caller's odd object: its labels are left out, the run is not
        logger.warning("energylab: labels must be a mapping of names to strings; ignored")
    kept: dict[str, str] = {}
    for key, value in labels.items():
        why = _why_not_label(key, value)
        if why:
            logger.warning("energylab: not sending label %r: %s", key[:80], why)
        elif len(kept) >= LABELS_MAX:
            logger.warning(
                "energylab: more than %d labels; %r and later ones not sent", LABELS_MAX, key
            )
            break
        else:
            kept[key] = value
    if kept:
        out["labels"] = kept
    return out
