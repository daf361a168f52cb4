"""A pod's runs are its history: deleting the pod never deletes them."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db.models import ProtectedError
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from collectors.models import Pod
from energylab.api.testing import *  # noqa: F403 - fixtures
from events import services
from events.models import Run, Step

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 11, 25, 8, 0, tzinfo=dt.UTC)


@pytest.fixture
def pod_with_runs() -> Pod:
    services.start_run("p", "a", "one", T0)
    services.start_run("p", "b", "one", T0 + dt.timedelta(seconds=10))  # running
    return Pod.objects.get(name="p")


def test_a_pod_with_runs_cannot_be_deleted(pod_with_runs: Pod) -> None:
    with pytest.raises(ProtectedError):
        pod_with_runs.delete()
    assert (Run.objects.count(), Step.objects.count()) == (2, 2)


def test_deleting_a_pod_with_runs_through_the_api_is_409_and_keeps_them(
    operator_client: APIClient, pod_with_runs: Pod
) -> None:
    answer = operator_client.delete(f"/api/v1/pods/{pod_with_runs.pk}/")
    assert answer.status_code == 409
    assert answer.json() == {
        "detail": "pod 'p' has 2 runs, which are never deleted; set active=false to stop polling it"
    }
    assert Pod.objects.filter(pk=pod_with_runs.pk).exists()
    assert (Run.objects.count(), Step.objects.count()) == (2, 2)


def test_a_pod_without_runs_is_deleted_through_the_api(operator_client: APIClient) -> None:
    pod = Pod.objects.create(name="empty")
    assert operator_client.delete(f"/api/v1/pods/{pod.pk}/").status_code == 204
    assert not Pod.objects.exists()


def test_the_admin_shows_the_runs_that_keep_a_pod(admin_client: Client, pod_with_runs: Pod) -> None:
    url = reverse("admin:collectors_pod_delete", args=[pod_with_runs.pk])
    page = admin_client.get(url)
    assert "would require deleting the following protected related objects" in page.content.decode()
    admin_client.post(url, {"post": "yes"})
    assert Pod.objects.filter(pk=pod_with_runs.pk).exists()
    assert Run.objects.count() == 2
