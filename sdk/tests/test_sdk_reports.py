"""`energylab report`'s wait: ask again while the server says the figures may still change."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from energylab_sdk._config import Config
from energylab_sdk._reports import MAX_PAUSE, ReportClient, ReportError


class Scripted(ReportClient):
    """The server's answers, in order (the last one repeats); a clock that sleeping moves."""

    def __init__(self, *answers: dict) -> None:
        super().__init__(Config(base_url="http://127.0.0.1:9/api/v1"))
        self.answers = list(answers)
        self.asked = 0
        self.now = 0.0

    def report(self, run_id: int) -> dict:
        self.asked += 1
        return self.answers[min(self.asked, len(self.answers)) - 1]

    def wait(self, seconds: float) -> dict:
        told = []
        report = self.final_report(
            7, seconds, told.append, clock=lambda: self.now, sleep=self.sleep
        )
        report["told"] = len(told)
        return report

    def sleep(self, seconds: float) -> None:
        assert 0 < seconds <= MAX_PAUSE
        self.now += seconds


def answer(final: bool | None, running: bool = False) -> dict:
    return {"run": {"id": 7, "running": running}, "final": final, "final_after": None}


def test_it_asks_again_until_the_figures_are_final_and_says_it_waits_once() -> None:
    client = Scripted(answer(False), answer(False), answer(True))
    report = client.wait(60)
    assert (report["final"], client.asked, report["told"]) == (True, 3, 1)


def test_it_gives_up_at_the_deadline_with_the_last_answer() -> None:
    client = Scripted(answer(False))
    report = client.wait(12)
    assert report["final"] is False
    assert client.now == 12
    assert client.asked == 4  # at 0, 5, 10 and 12 s


def test_a_running_run_or_an_unknown_state_is_not_waited_for() -> None:
    for state in (answer(False, running=True), answer(None), answer(True)):
        client = Scripted(state)
        client.wait(60)
        assert client.asked == 1


def test_no_wait_asks_once() -> None:
    client = Scripted(answer(False), answer(True))
    assert client.wait(0)["final"] is False
    assert client.asked == 1


def test_an_answer_that_is_not_a_report_is_a_report_error_not_a_traceback() -> None:
    # A URL pointing at some other JSON service: whatever it answers, the CLI must tell.
    class Other(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b'["not", "a", "report"]'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Other)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = ReportClient(Config(base_url=f"http://127.0.0.1:{server.server_port}/api/v1"))
    try:
        with pytest.raises(ReportError, match="not a run's report"):
            client.report(1)
        with pytest.raises(ReportError, match="not a list of runs"):
            client.last_runs("p", "s", 1)
    finally:
        client.close()
        server.shutdown()
        server.server_close()
