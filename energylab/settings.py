"""EnergyLab's Django settings: every value comes from an environment variable.

docs/configuration.md lists each variable; keep the two in step. A missing or malformed value
stops start-up with a message naming the variable (:class:`energylab.env.ConfigurationError`).
"""

from __future__ import annotations

from pathlib import Path

from energylab import env
from energylab.env import ConfigurationError

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

DEBUG = env.boolean("ENERGYLAB_DEBUG", False)
# Error pages and reports hide credentials (the request's, the server's), in debug mode too.
DEFAULT_EXCEPTION_REPORTER_FILTER = "energylab.debug.CredentialFilter"

# A debug server may run with a throw-away key; anything else must be given one.
_DEV_SECRET_KEY = "energylab-debug-only-insecure-key"  # noqa: S105 - only used with DEBUG
SECRET_KEY = (
    env.string("ENERGYLAB_SECRET_KEY", _DEV_SECRET_KEY)
    if DEBUG
    else env.string("ENERGYLAB_SECRET_KEY", required=True)
)


def _credentials_keys() -> list[str]:
    """Fernet keys for BMC passwords, newest first (the first encrypts, all decrypt)."""
    keys = env.fernet_keys("ENERGYLAB_CREDENTIALS_KEY")
    if keys:
        return keys
    if not DEBUG:
        raise ConfigurationError(
            "ENERGYLAB_CREDENTIALS_KEY is required outside debug: generate one with "
            "`python manage.py generate_credentials_key`"
        )
    # Debug: one key kept under var/ so that a restart can still read what it stored.
    from cryptography.fernet import Fernet

    key_file = VAR_DIR / "dev-credentials.key"
    if not key_file.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        key_file.write_bytes(Fernet.generate_key())
        key_file.chmod(0o600)
    return [key_file.read_text(encoding="ascii").strip()]


CREDENTIALS_KEYS = _credentials_keys()

ALLOWED_HOSTS = env.string_list(
    "ENERGYLAB_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if not DEBUG else ["*"]
)
CSRF_TRUSTED_ORIGINS = env.string_list("ENERGYLAB_CSRF_TRUSTED_ORIGINS", [])
HTTP_PORT = env.integer("ENERGYLAB_HTTP_PORT", 8000, minimum=1)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "collectors",
    "access",
    "events",
]

MIDDLEWARE = [
    # First: chunked bodies get their length before anything reads them.
    "energylab.middleware.ChunkedBodyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "energylab.urls"
WSGI_APPLICATION = "energylab.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "energylab" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env.database("ENERGYLAB_DATABASE_URL", f"sqlite:///{VAR_DIR / 'energylab.sqlite3'}")
}
# The password apart from the URL, so that it can be a secret of its own
# (ENERGYLAB_DATABASE_PASSWORD_FILE, as compose does) shared with the database's own container.
if _database_password := env.optional_string("ENERGYLAB_DATABASE_PASSWORD"):
    DATABASES["default"]["PASSWORD"] = _database_password
# Keep database connections between requests (a new PostgreSQL connection per request cost
# more than the request itself); check them before reuse so a restarted server is survived.
DATABASES["default"]["CONN_MAX_AGE"] = env.integer("ENERGYLAB_DATABASE_CONN_MAX_AGE", 60, minimum=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend with a health check that costs no round trip (energylab/db/postgresql).
    DATABASES["default"]["ENGINE"] = "energylab.db.postgresql"
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # The web server, workers and beat write at once. Wait for the lock instead of failing;
    # take it when a transaction begins (a read lock upgraded to a write lock mid-transaction
    # fails at once with "database is locked"); WAL lets readers go on while one writes.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        timeout=20,
        transaction_mode="IMMEDIATE",
        init_command="PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns on a missing root
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True  # serve app static files without collectstatic in development

LOGIN_URL = "admin:login"

# --- Redis, Celery ---------------------------------------------------------------------------
REDIS_URL = env.redis_url("ENERGYLAB_REDIS_URL", "redis://127.0.0.1:6379/0")
# Prefix of EnergyLab's own Redis keys (the sample buffer, the writer's lock): two
# installations, or two test runs, may share one Redis.
REDIS_KEY_PREFIX = env.string("ENERGYLAB_REDIS_KEY_PREFIX", "energylab")
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A worker tries to reach Redis again every 0.25 s after losing it, not after 2, 4, 6... s
# (energylab/celery_consumer.py); a Redis that stops answering fails a broker call after 5 s
# instead of hanging it (beat's sends, a worker's acknowledgements); connects give up after 2 s.
CELERY_WORKER_CONSUMER = "energylab.celery_consumer:Consumer"
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_timeout": 5.0, "socket_connect_timeout": 2.0}
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A worker is one process with a few threads by default, not prefork children: BMC sessions,
# Redfish discovery and the "one request in flight per BMC" bookkeeping live in the process, so
# prefork children would each log in to every BMC (a real BMC allows a handful of sessions) and
# two children could each have a request in flight to the same hung BMC. The poll task waits on
# I/O and bounds itself (see collectors.polling), so the GIL is not the limit (bench/poll.py:
# 2,000 BMCs every 5 s on time either way). `celery worker --pool/--concurrency` override these.
CELERY_WORKER_POOL = env.choice("ENERGYLAB_CELERY_POOL", "threads", ("threads", "prefork", "solo"))
CELERY_WORKER_CONCURRENCY = env.integer("ENERGYLAB_CELERY_CONCURRENCY", 4, minimum=1)
# Beat: django-celery-beat's database scheduler, keeping poll shards on their own phase.
CELERY_BEAT_SCHEDULER = "collectors.beat:PhasedScheduler"
CELERY_TIMEZONE = "UTC"
# Queues by kind of work: polls go to their pod's queue (default "poll"), so a worker inside a
# lab network serves only that lab; the writer has its own queue so a poll backlog cannot starve
# it; "default" takes the rest.
# The writer's pass runs every second; a pass that waited longer than a few seconds is dropped,
# the next one does its work.
WRITER_INTERVAL = 1.0
# A run with no event for this long (its CI job died before its stop) is closed at its last
# event and marked abandoned, checked every ABANDONED_CHECK_INTERVAL seconds.
RUN_MAX_IDLE = env.number("ENERGYLAB_RUN_MAX_IDLE", 86_400.0, minimum=60)
ABANDONED_CHECK_INTERVAL = 60.0
# Ended runs whose report is final by now (or was corrected late) are stored every this many
# seconds (events.reports.stored), on the default queue: a report can take a second.
REPORTS_CHECK_INTERVAL = env.number("ENERGYLAB_REPORTS_CHECK_INTERVAL", 10.0, minimum=1)
CELERY_BEAT_SCHEDULE = {
    "flush samples to InfluxDB": {
        "task": "events.tasks.flush_samples",
        "schedule": WRITER_INTERVAL,
        "options": {"expires": 5, "queue": "writer"},
    },
    "close abandoned runs": {
        "task": "events.tasks.close_abandoned_runs",
        "schedule": ABANDONED_CHECK_INTERVAL,
        "options": {"expires": ABANDONED_CHECK_INTERVAL, "queue": "writer"},
    },
    "store final reports": {
        "task": "events.reports.tasks.queue_final_reports",
        "schedule": REPORTS_CHECK_INTERVAL,
        "options": {"expires": REPORTS_CHECK_INTERVAL, "queue": "default"},
    },
}
# Task modules outside an app's tasks.py (which autodiscovery finds).
CELERY_IMPORTS = ["events.reports.tasks"]
CELERY_TASK_ROUTES = {
    "events.tasks.*": {"queue": "writer"},
    "events.reports.tasks.*": {"queue": "default"},
    "collectors.tasks.*": {"queue": "poll"},
}

# --- InfluxDB --------------------------------------------------------------------------------
INFLUXDB_URL = env.string("ENERGYLAB_INFLUXDB_URL", "http://127.0.0.1:8086")
INFLUXDB_DATABASE = env.string("ENERGYLAB_INFLUXDB_DATABASE", "energylab")
INFLUXDB_USERNAME = env.optional_string("ENERGYLAB_INFLUXDB_USERNAME")
INFLUXDB_PASSWORD = env.optional_string("ENERGYLAB_INFLUXDB_PASSWORD")
INFLUXDB_RETENTION = env.influx_duration("ENERGYLAB_INFLUXDB_RETENTION", "INF")
INFLUXDB_LEGACY_SCHEMA = env.boolean("ENERGYLAB_INFLUXDB_LEGACY_SCHEMA", False)
# Whether InfluxDB gzips its answers. A report reads MBs of samples; on a LAN or one box the
# compression costs more CPU on both sides than it saves (a run report 15 % slower, measured).
INFLUXDB_COMPRESSION = env.boolean("ENERGYLAB_INFLUXDB_COMPRESSION", False)

# --- Polling ---------------------------------------------------------------------------------
POLL_THREADS = env.integer("ENERGYLAB_POLL_THREADS", 32, minimum=1)
POLL_SHARD_SIZE = env.integer("ENERGYLAB_POLL_SHARD_SIZE", 100, minimum=1)
# Seconds between two writes of a healthy server's last reading to its row (0: every poll).
POLL_HEALTH_INTERVAL = env.number("ENERGYLAB_POLL_HEALTH_INTERVAL", 30.0, minimum=0)
# How long a pushed sample (server, sensor, time) is remembered, so that a resent one is not new.
PUSH_SEEN_SECONDS = env.integer("ENERGYLAB_PUSH_SEEN_SECONDS", 600, minimum=1)

# --- Pipeline --------------------------------------------------------------------------------
CORRELATION_DELAY = env.number("ENERGYLAB_CORRELATION_DELAY", 5.0, minimum=0)
BUFFER_MAX_SAMPLES = env.integer("ENERGYLAB_BUFFER_MAX_SAMPLES", 5_000_000, minimum=1000)
GRID_GCO2_PER_KWH = env.number("ENERGYLAB_GRID_GCO2_PER_KWH", 0.0, minimum=0)
# /badges/<pod>/<scenario>.svg without logging in (README images cannot send a token).
PUBLIC_BADGES = env.boolean("ENERGYLAB_PUBLIC_BADGES", True)
# A pod's idle power: measured over this much time when no run runs on it (seconds), from
# this long after a run ends (its fans and caches settle), looking back at most this far.
IDLE_WINDOW = env.number("ENERGYLAB_IDLE_WINDOW", 300.0, minimum=1)
IDLE_SETTLE = env.number("ENERGYLAB_IDLE_SETTLE", 30.0, minimum=0)
IDLE_LOOKBACK = env.number("ENERGYLAB_IDLE_LOOKBACK", 86400.0, minimum=1)
ALLOW_ANONYMOUS_EVENTS = env.boolean("ENERGYLAB_ALLOW_ANONYMOUS_EVENTS", False)
# Pods of no team: every authenticated user's (true: how deployments from before teams keep
# working until their pods are assigned), or superusers' only (docs/access.md).
UNASSIGNED_PODS_OPEN = env.boolean("ENERGYLAB_UNASSIGNED_PODS_OPEN", True)
# With ALLOW_ANONYMOUS_EVENTS: an anonymous first event creates its pod (unassigned, accepting
# anonymous events), as the old recorder did in closed lab networks.
ANONYMOUS_EVENTS_CREATE_PODS = env.boolean("ENERGYLAB_ANONYMOUS_EVENTS_CREATE_PODS", False)
# /healthz fails when the oldest buffered sample waits this long past the correlation delay.
HEALTH_MAX_WRITER_LAG = env.number("ENERGYLAB_HEALTH_MAX_WRITER_LAG", 60.0, minimum=0)
METRICS_TOKEN = env.optional_string("ENERGYLAB_METRICS_TOKEN")  # /metrics: bearer token if set

# --- REST API --------------------------------------------------------------------------------
# Largest request body (the legacy measurements API takes batches): beyond it, a JSON 413.
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
# Seconds a process remembers a verified token or basic-auth password (0: never); a change of
# access (a revoked token) clears it in every process at once through Redis (access.version),
# and after this long when Redis does not answer.
AUTH_CACHE_SECONDS = env.number("ENERGYLAB_AUTH_CACHE_SECONDS", 5.0, minimum=0)
# The InfluxDB-compatible POST /write (events.api.influx): which tags name a point's pod and
# server, and which fields are its power in watts; the first one a point has is used.
WRITE_POD_TAGS = env.string_list("ENERGYLAB_WRITE_POD_TAGS", ["pod"])
WRITE_SERVER_TAGS = env.string_list("ENERGYLAB_WRITE_SERVER_TAGS", ["server"])
WRITE_POWER_FIELDS = env.string_list("ENERGYLAB_WRITE_POWER_FIELDS", ["watts", "power"])
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Hashed API tokens and basic auth, remembering a verified credential (access/).
        "access.authentication.ApiTokenAuthentication",
        "access.authentication.BasicAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "energylab.api.pagination.BoundedLimitOffsetPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # JSON only, size-limited (DRF's own parser skips DATA_UPLOAD_MAX_MEMORY_SIZE).
    "DEFAULT_PARSER_CLASSES": ["energylab.api.parsers.LimitedJSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "energylab.api.negotiation.ApiClientContentNegotiation",
    # Service failures and EnergyLab's own errors become JSON answers, never a 500 page.
    "EXCEPTION_HANDLER": "energylab.api.exceptions.exception_handler",
    # RFC 3339 in UTC, always with microseconds (isoformat drops them when they are zero).
    "DATETIME_FORMAT": "%Y-%m-%dT%H:%M:%S.%fZ",
    # Rate limits (energylab.api.throttling): reads (GET) of every view, events and measurements
    # (the views' throttle_scope). Per user, none by default: a CI farm or a lab's collectors
    # behind one NAT address are many clients, and each token is one of them. Per address for
    # clients without credentials (ENERGYLAB_ALLOW_ANONYMOUS_EVENTS): limited by default. A rate
    # of N per period lets N through at once: 1000/s keeps the 60,000 measurement requests a
    # minute of the earlier default, in bursts of 1,000 instead of 60,000.
    "DEFAULT_THROTTLE_CLASSES": ["energylab.api.throttling.ScopedRateThrottleFromSettings"],
    "DEFAULT_THROTTLE_RATES": {
        "events": env.rate("ENERGYLAB_EVENTS_RATE", None),
        "measurements": env.rate("ENERGYLAB_MEASUREMENTS_RATE", None),
        "reads": env.rate("ENERGYLAB_READS_RATE", None),
        "anonymous events": env.rate("ENERGYLAB_ANONYMOUS_EVENTS_RATE", "6000/min"),
        "anonymous measurements": env.rate("ENERGYLAB_ANONYMOUS_MEASUREMENTS_RATE", "1000/s"),
        "anonymous reads": env.rate("ENERGYLAB_ANONYMOUS_READS_RATE", "6000/min"),
    },
    # Anonymous clients are told apart by their address, REMOTE_ADDR: trusting X-Forwarded-For
    # from anyone would let one pick a new address, so a new rate limit, per request.
    # Behind N reverse proxies that set it, ENERGYLAB_TRUSTED_PROXIES=N.
    "NUM_PROXIES": env.integer("ENERGYLAB_TRUSTED_PROXIES", 0, minimum=0),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "EnergyLab API",
    "DESCRIPTION": "Power-consumption recorder for server labs and CI.",
    "VERSION": "1",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SERVE_INCLUDE_SCHEMA": False,
}

# --- Logging ---------------------------------------------------------------------------------
LOG_LEVEL = env.string("ENERGYLAB_LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ConfigurationError(f"ENERGYLAB_LOG_LEVEL={LOG_LEVEL!r} is not a log level")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # pyghmi and urllib3 log request details at DEBUG; keep them quiet unless asked.
        "pyghmi": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
        "redfish": {"level": "WARNING"},
    },
}
