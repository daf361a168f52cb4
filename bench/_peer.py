"""The original OPNFV energy recorder (``bherard/energyrecorder``) as a benchmark peer.

Its code is never part of this project: a benchmark takes the folder of its exported tree and the
virtualenv it runs in (docs/benchmarks.md says how to get both). What it needs to run is written
into a temporary directory, which is its working directory: its configuration (read from
``conf/`` there), from its own ``.sample`` files with the InfluxDB URL, database, bind address
and ``ALWAYS_RECORD`` changed, and logs at WARNING as EnergyLab's bench server logs (its samples
log every request at DEBUG to the console and to /var/log). Its InfluxDB database is the bench's
own, created with the retention policies of its ``influx/creation.iql`` and dropped on the way out.
"""

from __future__ import annotations

import configparser
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

import requests
import yaml

DATABASE = f"bench_peer_{os.getpid()}"
ORIGINAL_DATABASE = "NRG"  # the name its creation script and sample configuration use


class OriginalRecorder:
    """The original recorder's API under gunicorn on ``127.0.0.1:port``, for a ``with`` block.

    :raises SystemExit: the folder or the virtualenv is not what the lab notes describe.
    """

    def __init__(self, folder: Path, venv: Path, port: int, workers: int, influx_url: str) -> None:
        self.api = folder / "recording-api"
        self.creation = folder / "influx" / "creation.iql"
        self.gunicorn = venv / "bin" / "gunicorn"
        for needed in (self.api / "app.py", self.creation, self.gunicorn):
            if not needed.exists():
                raise SystemExit(f"--peer: {needed} is missing (see docs/benchmarks.md)")
        self.port, self.workers, self.influx_url = port, workers, influx_url
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.workdir: Path | None = None

    def __enter__(self) -> OriginalRecorder:
        self.workdir = Path(tempfile.mkdtemp(prefix="energyrecorder-bench-"))
        try:
            self._configure(self.workdir)
            self._create_database()
            self.process = subprocess.Popen(
                [
                    str(self.gunicorn),
                    "--workers",
                    str(self.workers),
                    "--bind",
                    f"127.0.0.1:{self.port}",
                    # gunicorn 27 shares one control socket per user between instances otherwise.
                    "--control-socket",
                    str(self.workdir / "gunicorn.ctl"),
                    "--pythonpath",
                    str(self.api),
                    "--log-level",
                    "warning",
                    "app:APP",
                ],
                cwd=self.workdir,  # it reads conf/ from its working directory
                stdout=subprocess.DEVNULL,
                start_new_session=True,
            )
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)
        requests.post(
            f"{self.influx_url}/query", params={"q": f'DROP DATABASE "{DATABASE}"'}, timeout=30
        )
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _configure(self, workdir: Path) -> None:
        conf = workdir / "conf"
        conf.mkdir()
        settings = yaml.safe_load((self.api / "conf" / "webapp-settings.yaml.sample").read_text())
        settings["INFLUX"].update(host=self.influx_url, db=DATABASE)
        settings["BIND"] = f"127.0.0.1:{self.port}"
        # Look the running scenario up on every measurement, as EnergyLab does (True tags
        # everything "n/s"; see the lab notes).
        settings["ALWAYS_RECORD"] = False
        (conf / "webapp-settings.yaml").write_text(yaml.safe_dump(settings))
        logging = configparser.RawConfigParser()
        logging.read(self.api / "conf" / "webapp-logging.conf.sample")
        for section in logging.sections():
            if logging.has_option(section, "level"):
                logging.set(section, "level", "WARNING")
        log_file = str(workdir / "webapp.log")
        logging.set("handler_file_rotating", "args", f"({log_file!r}, 'a', 10485760, 2)")
        with (conf / "webapp-logging.conf").open("w") as out:
            logging.write(out)

    def _create_database(self) -> None:
        """Its database and retention policies, as its creation script makes them."""
        for statement in self.creation.read_text().split(";"):
            statement = statement.strip().replace(ORIGINAL_DATABASE, f'"{DATABASE}"')
            statement = statement.replace(f'""{DATABASE}""', f'"{DATABASE}"')
            if statement:
                answer = requests.post(
                    f"{self.influx_url}/query", params={"q": statement}, timeout=30
                )
                answer.raise_for_status()
