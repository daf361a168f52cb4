"""Debug error pages never show a credential (energylab.debug.CredentialFilter).

With ``ENERGYLAB_DEBUG=true`` (``make run``'s default) Django answers an unexpected exception
with its technical 500 page: local variables of every frame, the request's headers, cookies and
POST parameters, the settings. A caller's ``Authorization: Token …`` showed there in a local
variable. A view that fails holding credentials in local variables (by telling names and by
names that say nothing), with a token, a cookie, a form password and a database URL in the
request, answers a page, HTML or text, that shows the variables but none of the secrets.
"""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.test import Client
from django.urls import include, path
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access.tokens import issue_token

pytestmark = pytest.mark.django_db

BMC_PASSWORD = "bmc-Pa55word!"
FORM_PASSWORD = "form-pw-1234"
SESSION = "session-cookie-abcdef123456"
DATABASE_PASSWORD = "db-pw-9876"
REDIS_PASSWORD = "redis-pw-5678"


class FailingView(APIView):
    permission_classes = [IsAuthenticated]

    def post(self, request: Request) -> Response:
        authorization = request.META["HTTP_AUTHORIZATION"]
        copied = request.META["HTTP_AUTHORIZATION"]  # a name that tells nothing
        credential_part = copied.split()[1]  # noqa: F841
        held = copied.split()[1]  # noqa: F841
        headers = dict(request.headers)  # noqa: F841
        caller = request.auth  # noqa: F841 - the caller's grant (its repr names user and token)
        bmc_password = BMC_PASSWORD  # noqa: F841
        fernet = django_settings.CREDENTIALS_KEYS[0]  # noqa: F841
        visible = "a harmless local"  # noqa: F841
        raise RuntimeError(f"a bug while handling {len(authorization)} characters")


urlpatterns = [
    path("fail/", FailingView.as_view()),
    path("", include("energylab.urls")),
]


@pytest.fixture
def token(db: None) -> str:
    return issue_token(User.objects.create_user("debugged"))[1]


@pytest.mark.urls(__name__)
@pytest.mark.parametrize("accept", ["text/html", "application/json"])  # HTML page, text page
def test_the_debug_500_page_shows_no_credential(settings, token: str, accept: str) -> None:
    settings.DEBUG = True
    settings.REDIS_URL = f"redis://:{REDIS_PASSWORD}@127.0.0.1:6379/9"
    client = Client(raise_request_exception=False)
    client.cookies["sessionid"] = SESSION
    answer = client.post(
        "/fail/",
        {"password": FORM_PASSWORD, "note": "hello"},
        HTTP_AUTHORIZATION=f"Token {token}",
        HTTP_ACCEPT=accept,
        # What Django's development server adds to every request's META: its environment.
        ENERGYLAB_DATABASE_URL=f"postgres://energylab:{DATABASE_PASSWORD}@db:5432/energylab",
    )
    assert answer.status_code == 500
    page = answer.content.decode()
    # The page is the technical one, with the request's data (and the HTML page with the local
    # variables of each frame)...
    assert "a bug while handling" in page
    if accept == "text/html":
        assert "a harmless local" in page
        for name in ("held", "headers", "caller"):
            assert name in page
    assert "hello" in page
    assert "postgres://energylab:" in page
    # ...and no secret of the request or of the server.
    secrets = {
        "the token": token,
        "the BMC password": BMC_PASSWORD,
        "the Fernet key": django_settings.CREDENTIALS_KEYS[0],
        "the form's password": FORM_PASSWORD,
        "the session cookie": SESSION,
        "the database password": DATABASE_PASSWORD,
        "the Redis password": REDIS_PASSWORD,
        "the secret key": django_settings.SECRET_KEY,
    }
    shown = [what for what, secret in secrets.items() if secret in page]
    assert not shown, f"the debug page ({accept}) shows {', '.join(shown)}"
