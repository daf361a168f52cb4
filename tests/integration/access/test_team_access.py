"""A credential of team A acts only on team A's pods: on the native and legacy paths, in reads,
reports, pages and the admin; another team's pod is answered as an unknown one."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from access.models import ApiToken, AuditEntry, TokenScope
from access.tokens import issue_token
from collectors.models import Pod, Server
from energylab.api.testing import *  # noqa: F403 - fixtures
from events import services
from events.models import Run, RunReport

pytestmark = pytest.mark.django_db

EVENTS = "/api/v1/events/"


def with_token(key: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return api


@pytest.fixture
def teams() -> dict[str, Any]:
    """Teams a and b, a pod and a user of each, and a run running on each pod."""
    found: dict[str, Any] = {}
    for name in ("a", "b"):
        team = Group.objects.create(name=f"lab-{name}")
        pod = Pod.objects.create(name=f"pod-{name}", team=team)
        user = User.objects.create_user(f"ci-{name}")
        user.groups.add(team)
        run = services.start_run(pod.name, "s", "one").run
        found[name] = {"team": team, "pod": pod, "user": user, "run": run.id}
    return found


@pytest.fixture
def team_a(teams: dict[str, Any]) -> APIClient:
    """A client with a token of team a's user."""
    return with_token(issue_token(teams["a"]["user"])[1])


WRITES = [
    ("post", EVENTS, {"type": "start", "pod": "pod-b", "scenario": "x"}),
    ("post", EVENTS, {"type": "step", "pod": "pod-b", "step": "x"}),
    ("post", EVENTS, {"type": "stop", "pod": "pod-b"}),
    ("post", "/api/v1/runs/", {"pod": "pod-b", "scenario": "x"}),
    ("post", "/resources/recorders/environment/pod-b", {"scenario": "x", "step": "y"}),
    ("post", "/resources/recorders/environment/pod-b/step", {"step": "y"}),
    ("delete", "/resources/recorders/environment/pod-b", None),
    ("get", "/resources/recorders/environment/pod-b", None),
    (
        "post",
        "/resources/equipments/n/measurements",
        {"environment": "pod-b", "measurements": [{"sensor": "power", "unit": "W", "value": 1}]},
    ),
    ("post", "/resources/servers/n/consumption", {"environment": "pod-b", "power": 1}),
]


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_a_token_of_team_a_cannot_act_on_pod_b(
    team_a: APIClient, teams: dict[str, Any], method: str, path: str, body: Any
) -> None:
    answer = getattr(team_a, method)(path, body, format="json")
    assert answer.status_code == 404, answer.json()
    assert Run.objects.get(pk=teams["b"]["run"]).ended_at is None
    assert Run.objects.filter(pod__name="pod-b").count() == 1


@pytest.mark.parametrize(("method", "path", "body"), WRITES[:3] + WRITES[4:7])
def test_another_teams_pod_is_answered_as_an_unknown_one(
    team_a: APIClient, method: str, path: str, body: Any
) -> None:
    def detail(pod: str) -> str:
        named = {k: pod if v == "pod-b" else v for k, v in (body or {}).items()}
        answer = getattr(team_a, method)(
            path.replace("pod-b", pod), named if body else None, format="json"
        )
        assert answer.status_code == 404
        return str(answer.json()["detail"]).replace(pod, "P")

    assert detail("pod-b") == detail("no-such-pod")


def test_runs_events_by_id_of_another_team_are_unknown_runs(
    team_a: APIClient, teams: dict[str, Any]
) -> None:
    run_b = teams["b"]["run"]
    for path, body in (
        (f"/api/v1/runs/{run_b}/steps/", {"name": "x"}),
        (f"/api/v1/runs/{run_b}/stop/", {}),
    ):
        answer = team_a.post(path, body, format="json")
        assert answer.status_code == 404
        assert answer.json()["detail"] == f"no run has id {run_b}"
    assert Run.objects.get(pk=run_b).ended_at is None


def test_a_token_of_team_a_reads_only_team_a_runs(team_a: APIClient, teams: dict[str, Any]) -> None:
    listed = team_a.get("/api/v1/runs/").json()
    assert [run["pod"] for run in listed["results"]] == ["pod-a"]
    run_b = teams["b"]["run"]
    for path in (
        f"/api/v1/runs/{run_b}/",
        f"/api/v1/runs/{run_b}/steps/",
        f"/api/v1/runs/{run_b}/energy/",
    ):
        assert team_a.get(path).status_code == 404, path
    compare = "/api/v1/energy/comparison/"
    assert team_a.get(compare, {"pod": "pod-b", "scenario": "s"}).status_code == 404
    run_a = teams["a"]["run"]
    # Its own: found (a report, or 503 here, where no InfluxDB database was made for the test).
    assert team_a.get(compare, {"pod": "pod-a", "scenario": "s"}).status_code != 404
    assert team_a.get(f"/api/v1/runs/{run_a}/energy/").status_code != 404
    assert team_a.get(f"/api/v1/runs/{run_a}/steps/").status_code == 200
    assert [pod["name"] for pod in team_a.get("/api/v1/pods/").json()["results"]] == ["pod-a"]


def test_a_token_of_team_a_acts_on_team_a_pods(team_a: APIClient) -> None:
    assert (
        team_a.post(
            EVENTS, {"type": "step", "pod": "pod-a", "step": "two"}, format="json"
        ).status_code
        == 200
    )
    assert team_a.post(EVENTS, {"type": "stop", "pod": "pod-a"}, format="json").status_code == 200


def test_pages_show_a_user_only_their_teams_runs(teams: dict[str, Any]) -> None:
    browser = Client()
    browser.force_login(teams["a"]["user"])
    assert browser.get(f"/runs/{teams['b']['run']}/").status_code == 404
    listing = browser.get("/runs/").content.decode()
    assert "pod-a" in listing
    assert "pod-b" not in listing


def test_the_admin_shows_a_staff_user_only_their_teams_pods(teams: dict[str, Any]) -> None:
    staff = teams["a"]["user"]
    staff.is_staff = True
    staff.save()
    staff.user_permissions.set(Permission.objects.filter(codename__in=["view_run", "view_pod"]))
    browser = Client()
    browser.force_login(staff)
    page = browser.get("/admin/collectors/pod/").content.decode()
    assert "pod-a" in page
    assert "pod-b" not in page
    assert browser.get(f"/admin/events/run/{teams['b']['run']}/change/").status_code in (302, 404)
    staff.user_permissions.add(Permission.objects.get(codename="view_runreport"))
    for team in "ab":
        now = timezone.now()
        RunReport.objects.create(
            run_id=teams[team]["run"],
            document={},
            computed_at=now,
            window_start=now,
            window_end=now,
            duration_s=1.0,
            sample_count=0,
            coverage=0.0,
            warning_count=0,
        )
    page = browser.get("/admin/events/runreport/").content.decode()
    assert f"/admin/events/runreport/{teams['a']['run']}/change/" in page
    assert f"/admin/events/runreport/{teams['b']['run']}/change/" not in page


def test_a_private_badge_shows_only_the_teams_pods(teams: dict[str, Any], settings: Any) -> None:
    settings.PUBLIC_BADGES = False
    browser = Client()
    browser.force_login(teams["a"]["user"])
    assert "no runs" in browser.get("/badges/pod-b/s.svg").content.decode()
    assert "no runs" not in browser.get("/badges/pod-a/s.svg").content.decode()


def test_a_superuser_sees_every_team(teams: dict[str, Any]) -> None:
    root = User.objects.create_superuser("root")
    api = with_token(issue_token(root)[1])
    assert {run["pod"] for run in api.get("/api/v1/runs/").json()["results"]} == {"pod-a", "pod-b"}


def test_a_pod_is_created_only_by_a_team_allowed_to_create_pods(teams: dict[str, Any]) -> None:
    api = with_token(issue_token(teams["a"]["user"])[1])
    start = {"type": "start", "pod": "new-pod", "scenario": "s"}
    assert api.post(EVENTS, start, format="json").status_code == 404
    assert not Pod.objects.filter(name="new-pod").exists()
    teams["a"]["team"].permissions.add(Permission.objects.get(codename="add_pod"))
    assert api.post(EVENTS, start, format="json").status_code == 201
    assert Pod.objects.get(name="new-pod").team == teams["a"]["team"]


def test_a_read_only_token_cannot_write(teams: dict[str, Any]) -> None:
    api = with_token(issue_token(teams["a"]["user"], scope=TokenScope.READ)[1])
    answer = api.post(EVENTS, {"type": "step", "pod": "pod-a", "step": "x"}, format="json")
    assert answer.status_code == 403
    assert "read-only" in answer.json()["detail"]
    body = {"environment": "pod-a", "power": 1}
    assert api.post("/resources/servers/n/consumption", body, format="json").status_code == 403
    start = {"scenario": "x", "step": "y"}
    assert (
        api.post("/resources/recorders/environment/pod-a", start, format="json").status_code == 403
    )
    assert api.get("/api/v1/runs/").status_code == 200


def test_a_read_only_token_reads_the_running_scenario_on_the_legacy_path(
    teams: dict[str, Any],
) -> None:
    # A dashboard's token asks the old recorder's question: what runs on this environment?
    api = with_token(issue_token(teams["a"]["user"], scope=TokenScope.READ)[1])
    answer = api.get("/resources/recorders/environment/pod-a")
    assert answer.status_code == 200
    assert answer.json()["scenario"] == "s"
    # Another team's pod stays unknown to it.
    assert api.get("/resources/recorders/environment/pod-b").status_code == 404


def test_an_events_token_cannot_read_runs(teams: dict[str, Any]) -> None:
    api = with_token(issue_token(teams["a"]["user"], scope=TokenScope.EVENTS)[1])
    assert api.get("/api/v1/runs/").status_code == 403
    assert api.get(f"/api/v1/runs/{teams['a']['run']}/energy/").status_code == 403
    step = {"type": "step", "pod": "pod-a", "step": "x"}
    assert api.post(EVENTS, step, format="json").status_code == 200


def test_a_per_pod_token_acts_only_on_its_pods(teams: dict[str, Any]) -> None:
    team = teams["a"]["team"]
    other = Pod.objects.create(name="pod-a2", team=team)
    services.start_run(other.name, "s")
    api = with_token(issue_token(teams["a"]["user"], pods=[teams["a"]["pod"]])[1])
    assert api.post(EVENTS, {"type": "stop", "pod": "pod-a2"}, format="json").status_code == 404
    assert api.post(EVENTS, {"type": "stop", "pod": "pod-a"}, format="json").status_code == 200


def test_an_expired_token_is_refused(teams: dict[str, Any], listening: None) -> None:
    token, key = issue_token(teams["a"]["user"], expires_in=dt.timedelta(days=1))
    api = with_token(key)
    assert api.get("/api/v1/runs/").status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    another_process_changed_access()
    assert api.get("/api/v1/runs/").status_code == 401


@pytest.fixture
def listening() -> None:
    """This process listens for access changes (as a web server does once it served one)."""
    from access import version
    from energylab.testing import wait_until

    version.sync()
    wait_until(version.listening, 10, "the access listener to subscribe")


def another_process_changed_access() -> None:
    """What a change in another process looks like here: its message on the channel, nothing
    else; this process's listener clears its caches."""
    from access import version
    from energylab.api.authentication import credentials
    from energylab.redis_client import redis_client
    from energylab.testing import wait_until

    assert len(credentials) > 0
    redis_client().publish(version.channel(), "another process")
    wait_until(lambda: len(credentials) == 0, 5, "the listener to clear the cache")


def test_a_revoked_token_is_refused_at_once_in_every_process(
    teams: dict[str, Any], listening: None
) -> None:
    token, key = issue_token(teams["a"]["user"])
    api = with_token(key)
    assert api.get("/api/v1/runs/").status_code == 200  # now cached in this process
    # Revoked by another process: no signal reaches this one, only the shared count.
    ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
    another_process_changed_access()
    assert api.get("/api/v1/runs/").status_code == 401


def test_a_token_revoked_here_is_refused_at_once(teams: dict[str, Any]) -> None:
    from access.tokens import revoke

    token, key = issue_token(teams["a"]["user"])
    api = with_token(key)
    assert api.get("/api/v1/runs/").status_code == 200
    revoke(token)
    assert api.get("/api/v1/runs/").status_code == 401


def test_starts_and_stops_are_in_the_audit_log_with_who_did_them(teams: dict[str, Any]) -> None:
    _, key = issue_token(teams["a"]["user"], "nightly")
    api = with_token(key)
    api.post(EVENTS, {"type": "start", "pod": "pod-a", "scenario": "s2"}, format="json")
    api.post(EVENTS, {"type": "stop", "pod": "pod-a"}, format="json")
    entries = AuditEntry.objects.filter(pod="pod-a", actor__startswith="ci-a").order_by("id")
    assert [e.action for e in entries] == ["run.stop", "run.start", "run.stop"]
    assert entries[1].actor == "ci-a (token 'nightly')"


def test_the_last_use_of_a_token_is_written_once_a_minute(teams: dict[str, Any]) -> None:
    token, key = issue_token(teams["a"]["user"])
    api = with_token(key)
    api.get("/api/v1/runs/")
    first = ApiToken.objects.get(pk=token.pk).last_used_at
    assert first is not None
    api.get("/api/v1/runs/")
    assert ApiToken.objects.get(pk=token.pk).last_used_at == first


def test_a_server_of_another_teams_pod_is_refused_without_naming_that_pod(
    team_a: APIClient, teams: dict[str, Any]
) -> None:
    from collectors.models import BMCType, Server

    Server.objects.create(name="srv-b", pod=teams["b"]["pod"], bmc_type=BMCType.PUSH)
    body = {"environment": "pod-a", "power": 1}
    answer = team_a.post("/resources/servers/srv-b/consumption", body, format="json")
    assert answer.status_code == 409
    assert "pod-b" not in answer.json()["detail"]


def test_the_command_refuses_a_team_its_user_is_not_in(teams: dict[str, Any]) -> None:
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="not in team 'lab-b'"):
        call_command("create_api_token", "ci-a", "--team", "lab-b")
    with pytest.raises(CommandError, match="no pod 'nowhere'"):
        call_command("create_api_token", "ci-a", "--pod", "nowhere")


def test_basic_auth_follows_the_same_rules(teams: dict[str, Any]) -> None:
    import base64

    user = teams["a"]["user"]
    user.set_password("pw of a")
    user.save()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION="Basic " + base64.b64encode(b"ci-a:pw of a").decode())
    step = {"step": "x"}
    assert (
        api.post("/resources/recorders/environment/pod-b/step", step, format="json").status_code
        == 404
    )
    assert (
        api.post("/resources/recorders/environment/pod-a/step", step, format="json").status_code
        == 200
    )


def test_a_server_change_is_audited_with_its_fields_never_their_values(
    teams: dict[str, Any],
) -> None:
    from collectors.models import BMCType, Server

    server = Server.objects.create(
        name="srv-a", pod=teams["a"]["pod"], bmc_type=BMCType.IPMI, host="10.0.0.1"
    )
    user = teams["a"]["user"]
    user.user_permissions.set(Permission.objects.filter(codename="change_server"))
    api = with_token(issue_token(user, "ops")[1])
    secret = "s3cret BMC password"
    answer = api.patch(f"/api/v1/servers/{server.pk}/", {"password": secret}, format="json")
    assert answer.status_code == 200
    entry = AuditEntry.objects.get(action="server.change")
    assert (entry.actor, entry.pod, entry.detail["fields"]) == (
        "ci-a (token 'ops')",
        "pod-a",
        ["password"],
    )
    assert secret not in str(AuditEntry.objects.values())


def test_pushes_of_many_servers_and_influx_writes_keep_to_the_teams_pods(
    team_a: APIClient, teams: dict[str, Any]
) -> None:
    bulk = {
        "measurements": [
            {"pod": "pod-a", "server": "s1", "value": 1, "time": 1796433470267845204},
            {"pod": "pod-b", "server": "s2", "value": 1, "time": 1796433470267845204},
        ]
    }
    assert team_a.post("/api/v1/measurements/", bulk, format="json").status_code == 404
    line = b"power,pod=pod-b,server=s3 watts=1"
    answer = team_a.generic("POST", "/write?db=x", line, content_type="text/plain")
    assert answer.status_code == 404
    assert not Server.objects.filter(name__in=["s1", "s2", "s3"]).exists()
    line = b"power,pod=pod-a,server=s3 watts=1"
    assert team_a.generic("POST", "/write?db=x", line, content_type="text/plain").status_code == 204


def test_the_raw_samples_of_another_teams_run_are_not_found(
    team_a: APIClient, teams: dict[str, Any]
) -> None:
    assert team_a.get(f"/api/v1/runs/{teams['b']['run']}/samples/").status_code == 404
    assert team_a.get(f"/api/v1/runs/{teams['a']['run']}/samples/").status_code != 404


def test_comparisons_and_rankings_of_another_teams_pod_find_nothing(
    team_a: APIClient, teams: dict[str, Any]
) -> None:
    services.stop_run("pod-a")
    services.stop_run("pod-b")
    ranking = team_a.get("/api/v1/energy/ranking/", {"pod": "pod-b"})
    assert (ranking.status_code, ranking.json()["scenarios"]) == (200, [])
    query = {"pod": "pod-b", "scenario": "s", "a": "last:5", "b": "last:5"}
    change = team_a.get("/api/v1/energy/change/", query)
    assert change.status_code == 404
    own = team_a.get("/api/v1/energy/change/", {**query, "pod": "pod-a"})
    assert own.status_code != 404  # found (a report, or 503 without a test InfluxDB database)
    browser = Client()
    browser.force_login(teams["a"]["user"])
    assert browser.get("/runs/scenario/", {"pod": "pod-b", "scenario": "s"}).status_code == 404
    assert browser.get("/runs/compare/", {"pod": "pod-b", "scenario": "s"}).status_code == 404
