#!/usr/bin/env bash
# Start or stop the services EnergyLab needs on this machine, idempotently.
#
#   scripts/services.sh start   InfluxDB (installs Debian's influxdb when influxd is missing; config
#                               and data under var/influxdb/) and Redis (started only when nothing
#                               answers on its port); checks PostgreSQL when the database URL uses it
#   scripts/services.sh stop    stops only what `start` started (pid files under var/)
#   scripts/services.sh status
#   scripts/services.sh ports   the ports `start` would use, or why it would refuse one
#
# Ports come from ENERGYLAB_INFLUXDB_URL and ENERGYLAB_REDIS_URL (defaults 8086 and 6379).
# InfluxDB also listens on an RPC port (backup and restore): ENERGYLAB_INFLUXDB_RPC_PORT, by
# default its HTTP port + 2 (8088, influxd's own default). A default that falls in the kernel's
# ephemeral port range (/proc/sys/net/ipv4/ip_local_port_range), where outgoing connections take
# their local ports, is refused: influxd failed to restart there with "address already in use".
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
VAR="$ROOT/var"
INFLUX_URL=${ENERGYLAB_INFLUXDB_URL:-http://127.0.0.1:8086}
REDIS_URL=${ENERGYLAB_REDIS_URL:-redis://127.0.0.1:6379/0}
DB_URL=${ENERGYLAB_DATABASE_URL:-sqlite:///}

hostport() {  # URL -> "host port" (default port $2)
    local rest=${1#*://}; rest=${rest#*@}; rest=${rest%%/*}
    local host=${rest%:*} port=${rest##*:}
    [ "$host" = "$rest" ] && port=$2
    echo "${host:-127.0.0.1} ${port:-$2}"
}
read -r INFLUX_HOST INFLUX_PORT <<<"$(hostport "$INFLUX_URL" 8086)"
read -r REDIS_HOST REDIS_PORT <<<"$(hostport "$REDIS_URL" 6379)"

say() { printf 'services: %s\n' "$*"; }
die() { printf 'services: %s\n' "$*" >&2; exit 1; }

# The kernel's ephemeral port range (Linux's default when it cannot be read).
EPHEMERAL_LOW=32768 EPHEMERAL_HIGH=60999
if [ -r /proc/sys/net/ipv4/ip_local_port_range ]; then
    read -r EPHEMERAL_LOW EPHEMERAL_HIGH </proc/sys/net/ipv4/ip_local_port_range
fi
ephemeral() { [ "$1" -ge "$EPHEMERAL_LOW" ] && [ "$1" -le "$EPHEMERAL_HIGH" ]; }

influx_rpc_port() {  # sets INFLUX_RPC_PORT, or dies saying why it cannot
    if [ -n "${ENERGYLAB_INFLUXDB_RPC_PORT:-}" ]; then
        INFLUX_RPC_PORT=$ENERGYLAB_INFLUXDB_RPC_PORT
        [[ "$INFLUX_RPC_PORT" =~ ^[0-9]{1,5}$ ]] && [ "$INFLUX_RPC_PORT" -ge 1 ] \
            && [ "$INFLUX_RPC_PORT" -le 65535 ] \
            || die "ENERGYLAB_INFLUXDB_RPC_PORT=$INFLUX_RPC_PORT is not a port (1-65535)"
        [ "$INFLUX_RPC_PORT" != "$INFLUX_PORT" ] \
            || die "ENERGYLAB_INFLUXDB_RPC_PORT=$INFLUX_RPC_PORT is InfluxDB's HTTP port too"
        if ephemeral "$INFLUX_RPC_PORT"; then
            say "warning: ENERGYLAB_INFLUXDB_RPC_PORT=$INFLUX_RPC_PORT is in the ephemeral port" \
                "range $EPHEMERAL_LOW-$EPHEMERAL_HIGH: an outgoing connection may hold it" >&2
        fi
        return
    fi
    INFLUX_RPC_PORT=$((INFLUX_PORT + 2))
    local why=""
    if [ "$INFLUX_RPC_PORT" -gt 65535 ]; then
        why="past 65535"
    elif ephemeral "$INFLUX_RPC_PORT"; then
        why="in the ephemeral port range $EPHEMERAL_LOW-$EPHEMERAL_HIGH, where outgoing"
        why+=" connections take their ports (influxd would fail: 'address already in use')"
    fi
    [ -z "$why" ] || die "InfluxDB's RPC port would be $INFLUX_RPC_PORT (its HTTP port" \
        "$INFLUX_PORT + 2), $why: set ENERGYLAB_INFLUXDB_RPC_PORT to a free port outside" \
        "$EPHEMERAL_LOW-$EPHEMERAL_HIGH"
}

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
influx_ping() { curl -fsS -o /dev/null --max-time 2 "$INFLUX_URL/ping" 2>/dev/null; }
redis_ping() {
    local reply
    reply=$( (exec 3<>"/dev/tcp/$REDIS_HOST/$REDIS_PORT" && printf 'PING\r\n' >&3 && timeout 2 head -c 5 <&3) 2>/dev/null) || return 1
    [[ "$reply" == "+PONG"* ]]
}
pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

apt_install() {
    command -v apt-get >/dev/null || die "cannot install $*: no apt-get here; install it by hand"
    say "installing Debian package(s): $*"
    if [ ! -f "$VAR/.apt-updated" ]; then
        apt-get update -qq >/dev/null || die "apt-get update failed"
        mkdir -p "$VAR" && touch "$VAR/.apt-updated"
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null \
        || die "apt-get install $* failed"
}

start_influxdb() {
    if influx_ping; then say "InfluxDB answers at $INFLUX_URL"; return; fi
    [ "$INFLUX_HOST" = 127.0.0.1 ] || [ "$INFLUX_HOST" = localhost ] \
        || die "InfluxDB at $INFLUX_URL does not answer, and it is not on this machine"
    influx_rpc_port
    if port_open 127.0.0.1 "$INFLUX_RPC_PORT"; then
        die "something listens on 127.0.0.1:$INFLUX_RPC_PORT, InfluxDB's RPC port:" \
            "stop it, or set ENERGYLAB_INFLUXDB_RPC_PORT to a free port"
    fi
    command -v influxd >/dev/null || apt_install influxdb
    local dir="$VAR/influxdb"
    mkdir -p "$dir"
    cat >"$dir/influxdb.conf" <<CONF
reporting-disabled = true
bind-address = "127.0.0.1:$INFLUX_RPC_PORT"
[meta]
  dir = "$dir/meta"
[data]
  dir = "$dir/data"
  wal-dir = "$dir/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:$INFLUX_PORT"
  log-enabled = false
  max-body-size = 0
CONF
    say "starting influxd on 127.0.0.1:$INFLUX_PORT, RPC on $INFLUX_RPC_PORT (data in var/influxdb/)"
    nohup influxd run -config "$dir/influxdb.conf" -pidfile "$dir/influxd.pid" \
        >"$dir/influxd.log" 2>&1 &
    for _ in $(seq 1 150); do
        influx_ping && { say "InfluxDB is up"; return; }
        sleep 0.1
    done
    die "InfluxDB did not answer /ping within 15 s; see var/influxdb/influxd.log"
}

start_redis() {
    if redis_ping; then say "Redis answers at $REDIS_HOST:$REDIS_PORT"; return; fi
    if port_open "$REDIS_HOST" "$REDIS_PORT"; then
        die "something listens on $REDIS_HOST:$REDIS_PORT but does not answer PING like Redis"
    fi
    [ "$REDIS_HOST" = 127.0.0.1 ] || [ "$REDIS_HOST" = localhost ] \
        || die "Redis at $REDIS_HOST:$REDIS_PORT does not answer, and it is not on this machine"
    command -v redis-server >/dev/null || apt_install redis-server
    local dir="$VAR/redis"
    mkdir -p "$dir"
    say "starting redis-server on 127.0.0.1:$REDIS_PORT"
    redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" \
        --appendonly no --dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
    for _ in $(seq 1 50); do
        redis_ping && { say "Redis is up"; return; }
        sleep 0.1
    done
    die "Redis did not answer PING within 5 s; see var/redis/redis.log"
}

check_postgres() {
    case "$DB_URL" in
        postgres*)
            read -r pg_host pg_port <<<"$(hostport "$DB_URL" 5432)"
            port_open "$pg_host" "$pg_port" && { say "PostgreSQL answers at $pg_host:$pg_port"; return; }
            if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
                say "starting PostgreSQL (pg_ctlcluster)"
                pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start \
                    || die "PostgreSQL did not start"
                return
            fi
            die "PostgreSQL at $pg_host:$pg_port does not answer; start it, or use the SQLite default"
            ;;
    esac
}

stop_pidfile() {  # name pidfile
    if pid_alive "$2"; then
        say "stopping $1 (pid $(cat "$2"))"
        kill "$(cat "$2")"
        for _ in $(seq 1 50); do pid_alive "$2" || break; sleep 0.1; done
    fi
    rm -f "$2"
}

case "${1:-start}" in
    start) start_influxdb; start_redis; check_postgres ;;
    stop)
        stop_pidfile influxd "$VAR/influxdb/influxd.pid"
        stop_pidfile redis-server "$VAR/redis/redis.pid"
        ;;
    status)
        influx_ping && say "InfluxDB: up at $INFLUX_URL" || say "InfluxDB: down at $INFLUX_URL"
        redis_ping && say "Redis: up at $REDIS_HOST:$REDIS_PORT" || say "Redis: down at $REDIS_HOST:$REDIS_PORT"
        ;;
    ports)
        influx_rpc_port
        printf 'influxdb-http %s\ninfluxdb-rpc %s\nredis %s\n' \
            "$INFLUX_PORT" "$INFLUX_RPC_PORT" "$REDIS_PORT"
        ;;
    *) die "usage: $0 start|stop|status|ports" ;;
esac
