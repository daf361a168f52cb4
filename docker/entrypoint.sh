#!/bin/sh
# EnergyLab container entrypoint: `web`, `worker`, `beat`, `migrate`, `healthcheck ROLE`, or any
# command (`manage.py ...` runs Django's manage.py).
#
# Secrets come from the environment or from files (ENERGYLAB_SECRET_KEY_FILE,
# ENERGYLAB_CREDENTIALS_KEY_FILE, ...: docker secrets); EnergyLab's settings read both.
# Migrations are the `migrate` service's job (run once before web, worker and beat start).
set -eu

port=${ENERGYLAB_HTTP_PORT:-8000}

case "${1:-web}" in
    web)
        shift || true
        # One sync worker per core by default: with PostgreSQL on the same machine, more workers
        # cost more CPU per event than they gain (bench/events.py; docs/operations.md).
        exec gunicorn energylab.wsgi \
            --bind "0.0.0.0:${port}" \
            --workers "${GUNICORN_WORKERS:-$(nproc)}" \
            --timeout "${GUNICORN_TIMEOUT:-60}" \
            --access-logfile - \
            --forwarded-allow-ips "${GUNICORN_FORWARDED_ALLOW_IPS:-127.0.0.1}" \
            "$@"
        ;;
    worker)
        shift || true
        # Pool and concurrency come from ENERGYLAB_CELERY_POOL / _CONCURRENCY (the settings).
        exec celery -A energylab worker --loglevel="${ENERGYLAB_LOG_LEVEL:-INFO}" \
            -Q "${CELERY_QUEUES:-poll,writer,default}" "$@"
        ;;
    beat)
        shift || true
        exec celery -A energylab beat --loglevel="${ENERGYLAB_LOG_LEVEL:-INFO}" "$@"
        ;;
    migrate)
        exec python manage.py migrate --no-input
        ;;
    healthcheck)
        case "${2:-web}" in
            web)  # /healthz answers 200 while the database, Redis, InfluxDB and the writer do
                exec python -c "import sys, urllib.request
try:
    urllib.request.urlopen('http://127.0.0.1:${port}/healthz', timeout=8)
except Exception as exc:
    sys.exit(f'unhealthy: {exc}')"
                ;;
            worker)  # the worker of this container answers a broadcast ping
                exec celery -A energylab inspect ping --timeout 5 \
                    --destination "celery@$(hostname)" >/dev/null
                ;;
            beat)  # beat's process runs and it reaches the broker and the database
                exec python -c "import os, django
os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'energylab.settings')
django.setup()
from energylab.services import check_database, check_redis
check_redis()
check_database()"
                ;;
            *) echo "healthcheck: unknown role ${2}" >&2; exit 2 ;;
        esac
        ;;
    manage.py)
        shift
        exec python manage.py "$@"
        ;;
    *)
        exec "$@"
        ;;
esac
