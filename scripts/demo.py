"""`make demo`: the whole job on one machine, in about two minutes.

Starts a simulated lab (IPMI, Redfish EnvironmentMetrics, Redfish legacy Power and iLO BMCs on
loopback, playing a scripted power profile), the web server, a Celery worker and beat; records a
CI scenario through the SDK whose steps line up with the profile; waits for the writer; prints
the energy report, the run's page and the admin's address. Leaves everything running until
Ctrl-C, or exits after the report when DEMO_EXIT=1 (what the tests do).

Ctrl-C, SIGTERM or SIGHUP (a CI cancel, `timeout`) at any point: the scenario's run is ended
and its stop event sent while the web server still runs, then every process the demo started
(lab, web, worker, beat) is stopped; exit 0 after Ctrl-C, 128+N after signal N.

Run by `make demo` after install, services and migrate; it expects the venv's Python.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.chdir(ROOT)
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "energylab.settings")
os.environ.setdefault("ENERGYLAB_DEBUG", "true")
# Steps are tens of seconds long: a short correlation delay lets the report come sooner.
os.environ.setdefault("ENERGYLAB_CORRELATION_DELAY", "2")

POD = "demo lab"
PORT = int(os.environ.get("ENERGYLAB_HTTP_PORT", "8000"))
URL = f"http://127.0.0.1:{PORT}"
EXIT_AFTER_REPORT = os.environ.get("DEMO_EXIT", "") not in ("", "0", "false")
IDLE_W = 180.0
LAB_SERVERS = 5  # IPMI, two Redfish, iLO, and the server on two PDU outlets

# The scenario: (step, seconds, watts the servers draw meanwhile). The profile plays the same
# script, so each step's work shows in the power.
SCRIPT = [("provision", 20.0, 320.0), ("benchmark", 30.0, 460.0), ("teardown", 15.0, 240.0)]
# Seconds from now until the scenario starts: the stack comes up meanwhile (DEMO_LEAD_IN: a
# test that needs only the run to begin sets it low; the scenario then starts after the first
# polls, out of step with the profile).
LEAD_IN = float(os.environ.get("DEMO_LEAD_IN", "25"))


def say(message: str) -> None:
    print(f"demo: {message}", flush=True)


class Stopped(BaseException):
    """A stop signal arrived. A BaseException, as KeyboardInterrupt: the `except Exception` of a
    wait or of the SDK must not swallow it on its way to main's clean-up."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class StopSignals:
    """SIGINT, SIGTERM and SIGHUP raise Stopped in the main thread, except while a child is
    being started (deferred until it is in the list of processes to stop), and are ignored
    once the clean-up runs."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self) -> None:
        self.deferring = False
        self.pending: int | None = None
        self.raised = False

    def install(self) -> None:
        for signum in self.SIGNALS:
            signal.signal(signum, self._handle)

    def ignore(self) -> None:
        for signum in self.SIGNALS:
            signal.signal(signum, signal.SIG_IGN)

    def _handle(self, signum: int, _frame: object) -> None:
        if self.raised:
            return  # already stopping: a second Ctrl-C must not break the clean-up
        if self.deferring:
            self.pending = signum
            return
        self.raised = True
        raise Stopped(signum)

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        self.deferring = True
        try:
            yield
        finally:
            self.deferring = False
        if self.pending is not None and not self.raised:
            self.raised = True
            raise Stopped(self.pending)


STOP_SIGNALS = StopSignals()


class Processes:
    def __init__(self) -> None:
        self.running: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.logs = ROOT / "var" / "demo"
        self.logs.mkdir(parents=True, exist_ok=True)

    def start(self, name: str, *command: str) -> None:
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 - closed by the process's end
        # Started in a session of its own (a Ctrl-C reaches it only through stop(), after the
        # run is closed); a stop signal waits until it is in the list that stop() stops.
        with STOP_SIGNALS.deferred():
            process = subprocess.Popen(
                command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
            self.running.append((name, process))

    def check(self) -> None:
        for name, process in self.running:
            if process.poll() is not None:
                tail = (self.logs / f"{name}.log").read_text(errors="replace")[-2000:]
                raise SystemExit(f"demo: {name} stopped (exit {process.returncode}):\n{tail}")

    def stop(self) -> None:
        for _name, process in reversed(self.running):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for _name, process in reversed(self.running):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def wait_for(what: str, condition: Callable[[], object], timeout: float, procs: Processes) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        procs.check()
        try:
            if condition():
                return
        except Exception:  # noqa: S110 - not up yet: ask again
            pass
        time.sleep(0.5)
    raise SystemExit(f"demo: timed out after {timeout:.0f} s waiting for {what}; logs in var/demo/")


def port_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def main() -> int:
    import django

    django.setup()
    from django.contrib.auth.models import User

    from access.tokens import issue_token
    from collectors.models import Server

    if not port_free(PORT):
        raise SystemExit(
            f"demo: port {PORT} is taken (a `make run` still running?); stop it, or set "
            "ENERGYLAB_HTTP_PORT to a free port"
        )
    password = secrets.token_urlsafe(9)
    user, _ = User.objects.get_or_create(username="admin", defaults={"email": "admin@localhost"})
    user.is_staff = user.is_superuser = True
    user.set_password(password)
    user.save()
    _, token = issue_token(user, "demo")

    epoch = time.time() + LEAD_IN
    segments = [f"{LEAD_IN + 60:g}:{IDLE_W:g}"] + [f"{s:g}:{w:g}" for _n, s, w in SCRIPT]
    segments.append(f"3600:{IDLE_W:g}")
    python = sys.executable
    procs = Processes()
    STOP_SIGNALS.install()
    try:
        say(
            "starting a simulated lab: 1 IPMI, 2 Redfish (EnvironmentMetrics, legacy Power), "
            "1 iLO, and a server fed by two outlets of an SNMP PDU"
        )
        procs.start(
            "lab",
            python,
            "manage.py",
            "simulate_lab",
            "--pod",
            POD,
            "--ipmi",
            "1",
            "--redfish",
            "2",
            "--redfish-flavour",
            "cycle",
            "--ilo",
            "1",
            "--snmp",
            "1",
            "--profile",
            ",".join(segments),
            "--epoch",
            f"{epoch - LEAD_IN - 60:.3f}",
            "--spread",
            "15",
            "--noise",
            "5",
            "--register",
            "--interval",
            "1",
        )
        say(f"starting the web server on {URL}, a Celery worker and beat")
        procs.start("web", python, "manage.py", "runserver", f"127.0.0.1:{PORT}", "--noreload")
        procs.start(
            "worker",
            python,
            "-m",
            "celery",
            "-A",
            "energylab",
            "worker",
            "-Q",
            "poll,writer,default",
            "--loglevel=INFO",
        )
        procs.start("beat", python, "-m", "celery", "-A", "energylab", "beat", "--loglevel=INFO")

        wait_for(
            "the web server",
            lambda: urllib.request.urlopen(f"{URL}/api/v1/time/", timeout=2),  # noqa: S310 - loopback
            60,
            procs,
        )
        wait_for(
            "the first polls of the four BMCs and the PDU",
            lambda: (
                Server.objects.filter(
                    pod__name=POD, active=True, last_success_at__isnull=False
                ).count()
                >= LAB_SERVERS
            ),
            60,
            procs,
        )
        say("all four BMCs and the PDU answer; power is flowing into InfluxDB")
        run_id = record_scenario(epoch, token, procs)
        say("waiting for the writer to store the last samples (the report says when)")
        wait_for("the report's figures to be final", lambda: report_is_final(run_id), 60, procs)
        ok = print_report(run_id)
        print()
        say(f"the run's page:  {URL}/runs/{run_id}/")
        say(f"admin:           {URL}/admin/   user admin, password {password}")
        say(f"API docs:        {URL}/api/docs/")
        if EXIT_AFTER_REPORT:
            return 0 if ok else 1
        say("the lab keeps running and recording; Ctrl-C stops everything")
        while True:
            procs.check()
            time.sleep(1)
    except Stopped as stopped:
        print()
        return 0 if stopped.signum == signal.SIGINT else 128 + stopped.signum
    finally:
        STOP_SIGNALS.ignore()
        end_recording()  # while the web server still runs to receive the stop event
        say("stopping the demo's processes")
        procs.stop()


def record_scenario(epoch: float, token: str, procs: Processes) -> int:
    import energylab_sdk as energy

    from events.models import Run

    energy.configure(url=URL, pod=POD, token=token)
    wait = epoch - time.time()
    if wait > 0:
        say(f"the CI scenario starts in {wait:.0f} s, in step with the lab's power profile")
        time.sleep(wait)
    scenario = "demo: deploy, benchmark, tear down"
    start = epoch
    with energy.recording(scenario):
        for name, seconds, watts in SCRIPT:
            energy.Energy.set_step(name)
            say(f"step {name!r} for {seconds:g} s (the servers draw about {watts:g} W each)")
            start += seconds
            while time.time() < start:
                procs.check()
                time.sleep(min(0.5, max(0.0, start - time.time())))
    energy.flush(5)
    return Run.objects.filter(pod__name=POD, scenario=scenario).latest("started_at").pk


def end_recording() -> None:
    """End the scenario's run if it is still recording, and send what the SDK holds."""
    energy = sys.modules.get("energylab_sdk")
    if energy is None:
        return  # the scenario never began
    if energy.Energy.get_current_scenario() is not None:
        energy.Energy.stop()  # stopped between the recording's start and its `with` block
    if not energy.flush(5):
        say("the SDK could not send the run's last events; the run may stay open")


def report_is_final(run_id: int) -> bool:
    """True once the report says every sample it reads is in InfluxDB (docs/reports.md)."""
    from events.models import Run
    from events.reports.report import run_report

    return run_report(Run.objects.select_related("pod").get(pk=run_id))["final"] is True


def print_report(run_id: int) -> bool:
    """Print the report; True when every step has energy for every server."""
    from energylab_sdk.report_format import as_table

    from events.models import Run
    from events.reports.report import run_report

    report = run_report(Run.objects.select_related("pod").get(pk=run_id))
    print()
    print(as_table(report))
    complete = all(
        step["energy_j"] is not None
        and len(step["servers"]) >= LAB_SERVERS
        and all(s["energy_j"] is not None for s in step["servers"])
        for step in report["steps"]
    )
    if not complete:
        say("the report lacks energy for some step or server: see var/demo/*.log")
    return complete


if __name__ == "__main__":
    sys.exit(main())
