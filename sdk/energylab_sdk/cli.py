"""``energylab``: record a command, send start/step/stop from a shell script, print a report.

Exit codes: ``record`` exits with the command's code (128+N when killed by signal N; 127 when
it cannot be run). ``start``/``step``/``stop`` exit 0 even when the API is down (a warning goes
to stderr) unless ``--strict``, then 2. ``report`` exits 1 when the report cannot be had, and 3
when a reported run has no sample at all (the report's warnings say why; ``--allow-empty``: 0),
4 when ``--fail-on-regression`` finds a step significantly costlier than ``--compare-to``'s runs,
5 when a step or the run is over its budget (``--budget-j``, ``--budgets``). Bad usage exits 2.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from . import __version__, _api, _client, _config, _gate, _reports, ci_format, gating, report_format
from ._config import UNSET, Config
from ._transport import START, STEP, STOP, Event

EXIT_USAGE = 2
EXIT_NOT_RECORDED = 2
EXIT_REPORT_FAILED = 1
EXIT_NO_DATA = 3  # a run without any sample: CI must notice a forgotten worker or a dead BMC
EXIT_CANNOT_RUN = 127  # as a shell says it

# Enough for a pod polled every 5 s (its samples are in about 21 s after the end).
DEFAULT_REPORT_WAIT = 60.0

FORWARDED_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")


def _common(
    parser: argparse.ArgumentParser, timeout_default: str = "ENERGYLAB_FLUSH_TIMEOUT or 2"
) -> None:
    group = parser.add_argument_group("connection (default: environment variables)")
    group.add_argument("--url", help="server root, .../api/v1, or an old .../resources URL")
    group.add_argument("--pod", help="pod (environment) name; default ENERGYLAB_POD or NODE_NAME")
    group.add_argument("--token", help="API token; default ENERGYLAB_API_TOKEN")
    group.add_argument(
        "--timeout",
        type=float,
        help=f"seconds to wait for the API before giving up (default {timeout_default})",
    )
    group.add_argument("-v", "--verbose", action="store_true", help="log what is sent")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="energylab",
        description="Tell an EnergyLab server which scenario and step run on a pod, and read "
        "what they cost.",
        epilog="Environment: ENERGYLAB_API_URL, ENERGYLAB_POD, ENERGYLAB_API_TOKEN; or the old "
        "ENERGY_RECORDER_API_URL, NODE_NAME, ENERGY_RECORDER_API_USER/_PASSWORD.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    record = commands.add_parser(
        "record",
        help="run a command inside a recording",
        description="Run CMD inside a recording of SCENARIO; exit with CMD's exit code. "
        "Signals are forwarded to CMD. The API being down never changes the exit code.",
        usage="energylab record --scenario S [--step T] [--report] [options] -- CMD [ARG...]",
    )
    record.add_argument("--scenario", required=True, help="scenario name")
    record.add_argument("--step", help="initial step")
    record.add_argument(
        "--report",
        action="store_true",
        help="after CMD, print the run's energy report (as `energylab report` does; never "
        "changes the exit code)",
    )
    record.add_argument(
        "--wait",
        type=float,
        default=DEFAULT_REPORT_WAIT,
        metavar="SECONDS",
        help=f"with --report: how long to wait for the run's last samples "
        f"(default {DEFAULT_REPORT_WAIT:g})",
    )
    _common(record)
    _provenance_options(record)
    record.add_argument("cmd", nargs=argparse.REMAINDER, help="the command, after --")

    start = commands.add_parser(
        "start",
        help="start a scenario on the pod",
        description="Start SCENARIO on the pod (replacing what runs there).",
    )
    start.add_argument("--scenario", required=True, help="scenario name")
    start.add_argument("--step", help="initial step")
    _common(start)
    _provenance_options(start)
    _strict(start)

    step = commands.add_parser(
        "step", help="switch the running scenario to a step", description="Switch the pod's run."
    )
    step.add_argument("name", help="step name")
    _common(step)
    _strict(step)

    stop = commands.add_parser(
        "stop", help="stop the scenario running on the pod", description="Stop the pod's run."
    )
    _common(stop)
    _strict(stop)

    report = commands.add_parser(
        "report",
        help="print a run's energy per step and server",
        description="Print the energy report of a run (J with its low-high range, Wh, mean/peak "
        "W, coverage per step and server), or of the last N runs of a scenario on the pod with their comparison. A run "
        "that just ended is reported once its last samples are in (up to --wait seconds). "
        "Exits 1 when the report cannot be had (unknown run, server unreachable), 3 when a "
        "run has no sample at all (unless --allow-empty), 4 when --fail-on-regression finds a "
        "regression, 5 when a budget is exceeded (a regression and a budget: 4).",
        usage="energylab report (--run ID | --scenario S [--last N]) "
        "[--format table|json|csv|junit|markdown] [--wait SECONDS] [--allow-empty] "
        "[--compare-to BRANCH|last:N [--fail-on-regression] [--threshold-pct P]] "
        "[--budget-j J | --budgets FILE] [options]",
    )
    which = report.add_mutually_exclusive_group(required=True)
    which.add_argument("--run", type=int, help="the run's id")
    which.add_argument("--scenario", help="the scenario's name (its last runs on the pod)")
    report.add_argument("--last", type=int, default=1, help="how many recent runs (default 1)")
    report.add_argument(
        "--format",
        choices=["table", "json", "csv", "junit", "markdown"],
        default="table",
        help="junit: one test case per step, failing on a budget or regression; markdown: a job "
        "summary, also appended to $GITHUB_STEP_SUMMARY when set",
    )
    report.add_argument(
        "--wait",
        type=float,
        default=DEFAULT_REPORT_WAIT,
        metavar="SECONDS",
        help="how long to wait for a run that just ended to have all its samples "
        f"(default {DEFAULT_REPORT_WAIT:g}; 0: print at once, maybe partial)",
    )
    report.add_argument(
        "--allow-empty",
        action="store_true",
        help=f"exit 0 for a run without any sample (default: exit {EXIT_NO_DATA}; the report's "
        "warnings say why it has none)",
    )
    _gate_options(report)
    _common(report, timeout_default=f"{_reports.DEFAULT_TIMEOUT:g}")
    return parser


def _gate_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("CI gating (docs/ci.md on the server)")
    group.add_argument(
        "--compare-to",
        metavar="BRANCH|last:N",
        help="compare the reported runs per step with a branch's last runs, or with the N runs "
        "before them (Welch's t-test on the server)",
    )
    group.add_argument(
        "--fail-on-regression",
        action="store_true",
        help=f"exit {_gate.EXIT_REGRESSION} when a step is significantly (p < 0.05) and more than "
        "--threshold-pct costlier than --compare-to's runs",
    )
    group.add_argument(
        "--threshold-pct",
        type=float,
        default=_gate.DEFAULT_THRESHOLD_PCT,
        metavar="P",
        help=f"smallest increase that counts as a regression (default {_gate.DEFAULT_THRESHOLD_PCT:g})",
    )
    budget = group.add_mutually_exclusive_group()
    budget.add_argument(
        "--budget-j",
        type=float,
        metavar="J",
        help=f"exit {_gate.EXIT_OVER_BUDGET} when a run's energy is above J (mean of the runs)",
    )
    budget.add_argument(
        "--budgets",
        metavar="FILE",
        help="per-scenario and per-step budgets in J, JSON or YAML (docs/ci.md)",
    )


def _provenance_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "provenance (default: ENERGYLAB_COMMIT, ... then the CI's variables: GitHub Actions, "
        "GitLab CI, Zuul, Jenkins)"
    )
    group.add_argument("--commit", help="the commit under test")
    group.add_argument("--branch", help="the branch under test")
    group.add_argument("--ci-url", metavar="URL", help="the CI job's page")
    group.add_argument("--ci-system", metavar="NAME", help="github, gitlab, jenkins, zuul, ...")
    group.add_argument("--build", help="the CI's build or pipeline number")
    group.add_argument(
        "--label",
        action="append",
        type=_label,
        metavar="NAME=VALUE",
        help="a free label of the run (repeat for more; added to ENERGYLAB_LABELS)",
    )


def _label(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name.strip(), value.strip()


def _strict(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--strict",
        action="store_true",
        help="exit 2 when the event could not be recorded (default: warn and exit 0)",
    )


def _setup_logging(verbose: bool) -> None:
    logger = logging.getLogger("energylab_sdk")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.WARNING)
    logger.propagate = False


def _configure(args: argparse.Namespace) -> _client.Client:
    given = {
        name: getattr(args, name)
        for name in ("commit", "branch", "ci_url", "ci_system", "build")
        if getattr(args, name, None)
    }
    if getattr(args, "label", None):
        given["labels"] = dict(args.label)
    return _client.configure(
        url=args.url if args.url else UNSET,
        pod=args.pod if args.pod else UNSET,
        token=args.token if args.token else UNSET,
        flush_timeout=args.timeout if args.timeout else UNSET,
        source="cli",
        **given,
    )


def _check(parser: argparse.ArgumentParser, config: Config, strict: bool) -> bool:
    """Usage checks on the configuration; False: nothing to do (no URL, not strict)."""
    if not config.enabled:
        if strict:
            parser.error("no API URL configured (--url or ENERGYLAB_API_URL)")
        return False
    if not config.pod:
        parser.error("no pod configured (--pod, ENERGYLAB_POD or NODE_NAME)")
    return True


def _send(parser: argparse.ArgumentParser, args: argparse.Namespace, event: Event) -> int:
    client = _configure(args)
    if not _check(parser, client.config, args.strict):
        return 0
    assert client.config.pod is not None
    event.pod = client.config.pod
    before, rejected_before = client.stats.sent, client.stats.rejected
    client.enqueue(event)
    client.shutdown()
    if client.stats.sent > before:
        return 0
    if client.stats.rejected == rejected_before:
        # A refusal was already told, with the server's reason; a timeout was not.
        reason = client.last_error or "timeout"
        print(f"energylab: {event.kind} was not recorded ({reason})", file=sys.stderr)
    return EXIT_NOT_RECORDED if args.strict else 0


def _record(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    cmd: list[str] = list(args.cmd)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        parser.error("no command given after --")
    if shutil.which(cmd[0]) is None:
        # Before the recording starts: a command that cannot run must not leave a run of a few
        # milliseconds among the scenario's runs (it would skew their comparison).
        print(f"energylab: cannot run {cmd[0]!r}: no such executable", file=sys.stderr)
        return EXIT_CANNOT_RUN
    client = _configure(args)
    _check(parser, client.config, strict=False)
    with _api.recording(args.scenario, step=args.step):
        code = _run(cmd)
    client.shutdown()
    if args.report:
        _report_recorded(client, args)
    return code


def _report_recorded(client: _client.Client, args: argparse.Namespace) -> None:
    """``record --report``: the recorded run's report on stdout, or why not on stderr."""
    try:
        report = _reports.of_recording(
            client, wait=args.wait, on_wait=_tell_waiting(args.wait), timeout=args.timeout
        )
    except _reports.ReportError as exc:
        print(f"energylab: no report: {exc}", file=sys.stderr)
        return
    sys.stdout.write(report_format.render([report], None, "table", one_run=True))


def _run(cmd: list[str]) -> int:
    """Run the command, forwarding signals to it; its exit code (128+N if killed by N)."""
    try:
        child = subprocess.Popen(cmd)
    except OSError as exc:
        print(f"energylab: cannot run {cmd[0]!r}: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN

    def forward(signum: int, frame: Any) -> None:
        with contextlib.suppress(OSError):
            child.send_signal(signum)

    for name in FORWARDED_SIGNALS:
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), forward)
    code = child.wait()
    return code if code >= 0 else 128 - code


def _report(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.last < 1:
        parser.error("--last must be at least 1")
    if args.wait < 0:
        parser.error("--wait must not be negative")
    if args.fail_on_regression and not args.compare_to:
        parser.error("--fail-on-regression needs --compare-to BRANCH or last:N")
    if args.threshold_pct < 0:
        parser.error("--threshold-pct must not be negative")
    if args.budget_j is not None and args.budget_j <= 0:
        parser.error("--budget-j must be positive")
    config = _config.resolve(
        url=args.url if args.url else UNSET,
        pod=args.pod if args.pod else UNSET,
        token=args.token if args.token else UNSET,
        timeout=args.timeout if args.timeout else _reports.DEFAULT_TIMEOUT,
        source="cli",
    )
    if not config.enabled:
        parser.error("no API URL configured (--url or ENERGYLAB_API_URL)")
    if args.scenario is not None and not config.pod:
        parser.error("--scenario needs a pod (--pod, ENERGYLAB_POD or NODE_NAME)")

    try:
        reports, comparison = _reports.fetch(
            config,
            run_id=args.run,
            scenario=args.scenario,
            last=args.last,
            wait=args.wait,
            on_wait=_tell_waiting(args.wait),
        )
    except _reports.ReportError as exc:
        print(f"energylab: {exc}", file=sys.stderr)
        return EXIT_REPORT_FAILED
    options = _gate.GateOptions(
        args.compare_to, args.fail_on_regression, args.threshold_pct, args.budget_j, args.budgets
    )
    result = None
    if options.active or args.format in ("junit", "markdown"):
        try:
            result = _gate.check(config, reports, options)
        except (_reports.ReportError, gating.BudgetError) as exc:
            print(f"energylab: {exc}", file=sys.stderr)
            return EXIT_REPORT_FAILED
    if args.format == "junit":
        assert result is not None
        sys.stdout.write(ci_format.junit(reports, result.verdicts))
    elif args.format == "markdown":
        assert result is not None
        sys.stdout.write(_gate.summarise(reports, result))
    else:
        sys.stdout.write(
            report_format.render(reports, comparison, args.format, args.run is not None)
        )
        if result is not None and result.change and args.format == "table":
            sys.stdout.write(ci_format.markdown(reports, result.verdicts, result.change))
    empty = [r["run"]["id"] for r in reports if _has_no_samples(r)]
    if empty and not args.allow_empty:
        print(
            f"energylab: run(s) {', '.join(map(str, empty))} have no samples (see the warnings; "
            f"--allow-empty to accept); exit {EXIT_NO_DATA}",
            file=sys.stderr,
        )
        return EXIT_NO_DATA
    if result is not None and result.exit_code:
        for line in _gate.failures(result):
            print(f"energylab: {line}", file=sys.stderr)
        return result.exit_code
    return 0


def _has_no_samples(report: dict[str, Any]) -> bool:
    total = report.get("total") or {}
    return total.get("sample_count") == 0


def _tell_waiting(wait: float) -> Callable[[dict[str, Any]], None]:
    def tell(report: dict[str, Any]) -> None:
        print(
            f"energylab: run {report['run']['id']} just ended; waiting up to {wait:g} s "
            f"for its last samples (about until {report.get('final_after')})",
            file=sys.stderr,
        )

    return tell


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    _setup_logging(args.verbose)
    if args.command == "record":
        return _record(parser, args)
    if args.command == "report":
        return _report(parser, args)
    if args.command == "start":
        return _send(parser, args, Event(START, "", args.scenario, args.step, time.time_ns()))
    if args.command == "step":
        return _send(parser, args, Event(STEP, "", step=args.name, local_ns=time.time_ns()))
    return _send(parser, args, Event(STOP, "", local_ns=time.time_ns()))
