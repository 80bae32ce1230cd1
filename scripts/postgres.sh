#!/usr/bin/env bash
# A local PostgreSQL cluster for TinyForge's tests (and for trying PostgreSQL out): installs
# Debian's `postgresql` when missing, creates a cluster of its own (data directory, port,
# 127.0.0.1 only), a role allowed to create databases (pytest-django creates `test_<name>`) and
# a database, starts it, and prints the DATABASE_URL on stdout (everything else goes to stderr).
# Safe to run again: an existing cluster is reused, a running one is left alone.
#
#   export DATABASE_URL=$(bash scripts/postgres.sh)
#   bash scripts/postgres.sh stop
#
# Knobs: TINYFORGE_PG_DIR (default /var/lib/tinyforge-postgres), TINYFORGE_PG_PORT (54329),
# TINYFORGE_PG_DB / TINYFORGE_PG_USER (tinyforge). The role's password is generated once and
# kept in $TINYFORGE_PG_DIR/password (mode 600).
set -euo pipefail

DIR=${TINYFORGE_PG_DIR:-/var/lib/tinyforge-postgres}
PORT=${TINYFORGE_PG_PORT:-54329}
DB=${TINYFORGE_PG_DB:-tinyforge}
ROLE=${TINYFORGE_PG_USER:-tinyforge}
DEADLINE_S=60

say() { echo "postgres.sh: $*" >&2; }

pg_bin() {
    local bin
    bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -n "$bin" ] && echo "$bin"
}

# PostgreSQL refuses to run as root: as root, run its tools as the `postgres` user.
as_pg() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

url() {
    echo "postgres://$ROLE:$(cat "$DIR/password")@127.0.0.1:$PORT/$DB"
}

if [ -z "$(pg_bin)" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        say "PostgreSQL is not installed and this is not root: apt-get install postgresql" 
        exit 1
    fi
    say "installing postgresql via apt-get"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
fi
BIN=$(pg_bin)

if [ "${1:-}" = "stop" ]; then
    if [ -f "$DIR/data/postmaster.pid" ]; then
        as_pg "$BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >&2 || true
    fi
    exit 0
fi

if [ ! -f "$DIR/data/PG_VERSION" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        say "no cluster in $DIR and this is not root (the cluster runs as the postgres user)"
        exit 1
    fi
    say "creating a cluster in $DIR (port $PORT)"
    mkdir -p "$DIR"
    rm -rf "$DIR/data"
    chown postgres: "$DIR"
    chmod 700 "$DIR"
    (umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$DIR/password")
    # The superuser connects only through the cluster's own socket (trust, owner-only
    # directory); everything over TCP needs the role's password.
    as_pg "$BIN/initdb" -D "$DIR/data" -U postgres --auth-local=trust \
        --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$DIR/initdb.log" 2>&1 ||
        { cat "$DIR/initdb.log" >&2; exit 1; }
    # A test cluster: speed over durability (a crash may lose the last commits, never corrupt).
    cat >>"$DIR/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DIR'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 128MB
EOF
    chown postgres: "$DIR/password"
fi

if ! as_pg "$BIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
    say "starting the cluster (log: $DIR/log)"
    # pg_ctl ignores a postmaster.pid whose process is gone (a killed session's leftover).
    as_pg "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/log" -w -t "$DEADLINE_S" start >&2 ||
        { tail -n 30 "$DIR/log" >&2; exit 1; }
fi

deadline=$(( $(date +%s) + DEADLINE_S ))
until "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
        say "the cluster did not accept connections within ${DEADLINE_S}s"
        tail -n 30 "$DIR/log" >&2
        exit 1
    fi
    sleep 0.2
done

psql_su() { as_pg "$BIN/psql" -h "$DIR" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qAt "$@"; }
PASSWORD=$(cat "$DIR/password")
if [ "$(psql_su -c "SELECT 1 FROM pg_roles WHERE rolname = '$ROLE'")" != "1" ]; then
    psql_su -c "CREATE ROLE \"$ROLE\" LOGIN CREATEDB PASSWORD '$PASSWORD'" >&2
else
    psql_su -c "ALTER ROLE \"$ROLE\" LOGIN CREATEDB PASSWORD '$PASSWORD'" >&2
fi
if [ "$(psql_su -c "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != "1" ]; then
    psql_su -c "CREATE DATABASE \"$DB\" OWNER \"$ROLE\"" >&2
fi
say "ready on 127.0.0.1:$PORT (database $DB, role $ROLE)"
url
