"""Rate limits: one bucket per credential (or anonymous address) and scope in Redis, shared by
every process; a 429 names the setting of the limit reached."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured
from rest_framework.test import APIClient

from collectors.models import Pod
from energylab.api import throttling
from energylab.api.testing import *  # noqa: F403 - fixtures

pytestmark = pytest.mark.django_db

START = {"type": "start", "pod": "p", "scenario": "s"}


@pytest.fixture
def rate(settings: Any) -> Any:
    """Sets the events rate of authenticated and anonymous clients alike (or others by key)."""

    def set_rate(events: str | None = None, **by_key: str | None) -> None:
        rates = dict(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"])
        if events is not None:
            rates.update({"events": events, "anonymous events": events})
        rates.update({key.replace("_", " "): value for key, value in by_key.items()})
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}

    return set_rate


def test_a_refused_event_is_told_when_the_next_one_is_allowed(client: APIClient, rate: Any) -> None:
    rate("3/min")  # one every 20 s, three at once
    codes = [client.post("/api/v1/events/", START, format="json") for _ in range(4)]
    assert [c.status_code for c in codes] == [201, 201, 201, 429]
    assert 19 <= int(codes[-1]["Retry-After"]) <= 20


def test_the_count_lives_in_redis_for_every_process(
    client: APIClient, rate: Any, redis_url: str, settings: Any
) -> None:
    rate("2/min")
    assert client.post("/api/v1/events/", START, format="json").status_code == 201
    user_id = User.objects.get(username="ci").pk
    store = redis.Redis.from_url(redis_url)
    keys = [key.decode() for key in store.scan_iter(match=throttling.bucket_prefix() + "*")]
    assert [key.rsplit(":", 1)[1] for key in keys] == [f"throttle_events_{user_id}"]
    # Another process's throttle objects start empty: the bucket is what counts.
    throttling._scripts.clear()
    assert client.post("/api/v1/events/", START, format="json").status_code == 201
    assert client.post("/api/v1/events/", START, format="json").status_code == 429


def test_two_clients_have_their_own_buckets(
    client: APIClient, anonymous: APIClient, rate: Any, settings: Any
) -> None:
    settings.ALLOW_ANONYMOUS_EVENTS = True
    Pod.objects.get_or_create(name="p", defaults={"accepts_anonymous_events": True})
    rate("1/min")
    assert client.post("/api/v1/events/", START, format="json").status_code == 201
    assert anonymous.post("/api/v1/events/", START, format="json").status_code == 201
    assert client.post("/api/v1/events/", START, format="json").status_code == 429


def test_an_anonymous_client_cannot_choose_its_bucket_with_x_forwarded_for(
    anonymous: APIClient, rate: Any, settings: Any
) -> None:
    settings.ALLOW_ANONYMOUS_EVENTS = True
    Pod.objects.get_or_create(name="p", defaults={"accepts_anonymous_events": True})
    rate("2/min")
    codes = [
        anonymous.post(
            "/api/v1/events/", START, format="json", HTTP_X_FORWARDED_FOR=f"10.0.0.{i}"
        ).status_code
        for i in range(3)
    ]
    assert codes == [201, 201, 429]


def test_behind_a_trusted_proxy_its_forwarded_address_names_the_client(
    anonymous: APIClient, rate: Any, settings: Any
) -> None:
    settings.ALLOW_ANONYMOUS_EVENTS = True
    Pod.objects.get_or_create(name="p", defaults={"accepts_anonymous_events": True})
    rate("1/min")
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}

    def post(forwarded: str) -> int:
        return anonymous.post(
            "/api/v1/events/", START, format="json", HTTP_X_FORWARDED_FOR=forwarded
        ).status_code

    # The proxy appends the address it saw; what the client wrote before it is not trusted.
    assert [post("10.0.0.1"), post("10.0.0.2"), post("1.2.3.4, 10.0.0.1")] == [201, 201, 429]


def test_events_go_through_when_redis_does_not_answer(
    client: APIClient, rate: Any, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    rate("1/min")
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    codes = [client.post("/api/v1/events/", START, format="json").status_code for _ in range(3)]
    assert codes == [201, 201, 201]
    assert "rate limit not applied" in caplog.text


def test_tokens_are_taken_as_many_as_asked_and_allowed(redis_url: str, settings: Any) -> None:
    settings.REDIS_URL = redis_url
    bucket = throttling.bucket_prefix() + "direct"
    assert throttling.take_tokens(bucket, 5, 60, 3) == (3, 0.0)
    assert throttling.take_tokens(bucket, 5, 60, 3) == (2, 0.0)
    taken, wait = throttling.take_tokens(bucket, 5, 60, 3)
    assert taken == 0
    assert 11 <= wait <= 12  # one every 12 s


def test_a_bucket_keeps_its_time_to_the_microsecond(redis_url: str, settings: Any) -> None:
    settings.REDIS_URL = redis_url
    bucket = throttling.bucket_prefix() + "precise"
    throttling.take_tokens(bucket, 3, 1, 1)  # a token every third of a second
    stored = redis.Redis.from_url(redis_url).get(bucket)
    assert stored is not None
    assert len(stored.decode().split(".")[1]) == 6


@pytest.mark.parametrize(
    ("limit", "period", "batch"),
    [(3, 60, 1), (6000, 60, 10), (100, 1, 10), (10_000_000, 60, throttling.BATCH_MAX)],
)
def test_a_process_takes_at_most_a_tenth_of_a_seconds_worth_at_once(
    limit: int, period: int, batch: int
) -> None:
    assert throttling.batch_size(limit, period) == batch


def test_a_busy_client_asks_redis_once_per_batch(
    client: APIClient, rate: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    rate("6000/min")  # batches of 10
    asked: list[int] = []
    take = throttling.take_tokens

    def counted(*args: Any) -> tuple[int, float]:
        asked.append(args[-1])
        return take(*args)

    monkeypatch.setattr(throttling, "take_tokens", counted)
    for _ in range(11):
        assert client.post("/api/v1/events/", START, format="json").status_code == 201
    assert asked == [10, 10]


def test_tokens_a_process_holds_expire(
    client: APIClient, rate: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    rate("6000/min")
    asked: list[int] = []
    take = throttling.take_tokens
    monkeypatch.setattr(throttling, "take_tokens", lambda *a: asked.append(1) or take(*a))
    now = [1000.0]
    monkeypatch.setattr(throttling, "monotonic", lambda: now[0])
    client.post("/api/v1/events/", START, format="json")
    now[0] += throttling.HOLD_SECONDS + 0.1
    client.post("/api/v1/events/", START, format="json")
    assert len(asked) == 2


def test_a_process_forgets_expired_tokens_of_many_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(throttling, "monotonic", lambda: now[0])
    monkeypatch.setattr(throttling, "HELD_MAX", 10)
    rate = (6000, 60.0)
    for i in range(10):
        throttling._keep(f"client {i}", rate, 5)
    now[0] += throttling.HOLD_SECONDS + 1
    throttling._keep("one more", rate, 5)
    assert list(throttling._held) == ["one more"]
    throttling._held.clear()


def test_a_refusal_names_the_setting_of_the_limit_and_when_to_retry(
    client: APIClient, rate: Any
) -> None:
    rate(events="1/min")
    assert client.post("/api/v1/events/", START, format="json").status_code == 201
    refused = client.post("/api/v1/events/", START, format="json")
    assert refused.status_code == 429
    assert refused.json()["detail"] == (
        "Request was throttled: ENERGYLAB_EVENTS_RATE (1/min per user) is reached. "
        f"Expected available in {refused['Retry-After']} seconds."
    )


def test_reads_of_every_view_share_a_limit_of_their_own(client: APIClient, rate: Any) -> None:
    rate(reads="2/min")
    assert client.get("/api/v1/runs/").status_code == 200
    assert client.get("/api/v1/pods/").status_code == 200
    refused = client.get("/api/v1/runs/")
    assert refused.status_code == 429
    assert "ENERGYLAB_READS_RATE (2/min per user)" in refused.json()["detail"]
    assert int(refused["Retry-After"]) > 0
    # Events are not reads, not even on the runs' own routes.
    assert (
        client.post("/api/v1/runs/", {"pod": "p", "scenario": "s"}, format="json").status_code
        == 201
    )
    assert client.post("/api/v1/events/", START, format="json").status_code == 201


def test_the_legacy_recorders_get_counts_as_a_read(
    anonymous: APIClient, rate: Any, settings: Any
) -> None:
    settings.ALLOW_ANONYMOUS_EVENTS = True
    Pod.objects.get_or_create(name="p", defaults={"accepts_anonymous_events": True})
    rate(anonymous_reads="1/min")
    url = "/resources/recorders/environment/p"
    assert anonymous.get(url).status_code == 404  # nothing runs
    refused = anonymous.get(url)
    assert refused.status_code == 429
    assert "ENERGYLAB_ANONYMOUS_READS_RATE (1/min per client address" in refused.json()["detail"]
    assert anonymous.post(url, {"scenario": "s", "step": "t"}, format="json").status_code == 200


def test_the_clock_and_the_ping_are_not_limited(anonymous: APIClient, rate: Any) -> None:
    rate(anonymous_reads="1/min")
    codes = {
        anonymous.get(path).status_code
        for path in ["/api/v1/time/", "/resources/monitoring/ping"] * 3
    }
    assert codes == {200}


def test_a_request_without_a_limit_costs_no_redis_call(
    client: APIClient, anonymous: APIClient, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.ALLOW_ANONYMOUS_EVENTS = True  # default rates: none per user, some per address
    Pod.objects.get_or_create(name="p", defaults={"accepts_anonymous_events": True})
    asked: list[str] = []
    take = throttling.take_tokens
    monkeypatch.setattr(throttling, "take_tokens", lambda *a: asked.append(a[0]) or take(*a))
    body = {"environment": "p", "measurements": []}
    assert client.post("/api/v1/events/", START, format="json").status_code == 201
    assert (
        client.post("/resources/equipments/n/measurements", body, format="json").status_code == 200
    )
    assert client.get("/api/v1/runs/").status_code == 200
    assert asked == []
    assert anonymous.post("/api/v1/events/", START, format="json").status_code == 201
    assert len(asked) == 1


def test_a_scope_without_a_rate_is_a_configuration_error(client: APIClient, settings: Any) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"events": None},
    }
    with pytest.raises(ImproperlyConfigured, match="no throttle rate 'reads'"):
        client.get("/api/v1/runs/")


def test_a_refusal_at_the_edge_of_a_token_still_says_to_retry_in_a_second(
    client: APIClient, rate: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    rate(events="1000/s")
    # What the script answers when its clock arithmetic rounds the wait to nothing.
    monkeypatch.setattr(throttling, "take_tokens", lambda *a: (0, 0.0))
    refused = client.post("/api/v1/events/", START, format="json")
    assert refused.status_code == 429
    assert refused["Retry-After"] == "1"
    assert refused.json()["detail"].endswith("Expected available in 1 second.")
