#!/usr/bin/env bash
# Makes sure the real services the test suite talks to run, and writes where they are to the file named
# by $1 (default var/test/services.env) as TEST_DATABASE_URL=... and TEST_REDIS_URL=... lines; and that the
# programs it runs are installed: nginx, espeak-ng, Chromium.
#
# - TEST_DATABASE_URL / TEST_REDIS_URL set: those are used as they are (checked, nothing installed).
# - Otherwise PostgreSQL: the usual postgres://heygem:heygem@127.0.0.1:5432/heygem when it answers with a
#   role that may create databases; else a PostgreSQL cluster of this machine's own (Debian's
#   pg_createcluster), started on a free port when 5432 is taken by a server we cannot manage (a
#   container, another install). Redis: 127.0.0.1:6379 when it answers PING without a password; else a
#   private redis-server on a free port, data-less, pid file under var/test/.
# Installs missing packages with apt-get when running as root; starts servers without systemd.
set -euo pipefail

cd "$(dirname "$0")/.."
OUT=${1:-var/test/services.env}
RUN_DIR=$(pwd)/var/test/services
mkdir -p "$(dirname "$OUT")" "$RUN_DIR"
PG_ROLE=heygem PG_PASSWORD=heygem PG_DB=heygem
# The usual ports, tried first (overridable to try the fallbacks on a machine that has both free).
PG_PORT=${HEYGEM_TEST_PG_PORT:-5432} REDIS_PORT=${HEYGEM_TEST_REDIS_PORT:-6379}

say() { echo "[services] $*"; }
fail() { say "$*"; exit 1; }
need_package() {  # need_package COMMAND PACKAGE...
  command -v "$1" >/dev/null 2>&1 && return 0
  if [ "$(id -u)" != 0 ]; then
    fail "'$1' is missing. Install it first: sudo apt-get install ${*:2}"
  fi
  command -v apt-get >/dev/null || fail "'$1' is missing and this is not a Debian/Ubuntu system: install ${*:2} yourself."
  say "installing ${*:2}"
  if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -print -quit 2>/dev/null)" ] || ! apt-get install -y -qq "${@:2}" >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${@:2}" >/dev/null
  fi
}
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi; }
port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {  # free_port FIRST: the first port from FIRST on that nothing listens on
  local port=$1
  while port_taken "$port"; do port=$((port + 1)); done
  echo "$port"
}
export DEBIAN_FRONTEND=noninteractive

# --- PostgreSQL ---
need_package psql postgresql-client
pg_usable() {  # pg_usable URL: it answers, and the role may create the test database (the URL's own
  # database need not exist: Django creates test_<name> from the maintenance database)
  local query="SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user"
  [ "$(psql "$1" -XtAc "$query" 2>/dev/null || psql "${1%/*}/postgres" -XtAc "$query" 2>/dev/null)" = t ]
}
if [ -n "${TEST_DATABASE_URL:-}" ]; then
  pg_usable "$TEST_DATABASE_URL" || fail "TEST_DATABASE_URL does not answer, or its role may not create databases."
  DATABASE=$TEST_DATABASE_URL
  say "PostgreSQL: using TEST_DATABASE_URL"
elif pg_usable "postgres://$PG_ROLE:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB"; then
  DATABASE="postgres://$PG_ROLE:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB"
  say "PostgreSQL: using the one on 127.0.0.1:$PG_PORT"
else
  # Something else holds the port (or nothing does): run a cluster of our own, managed with Debian's tools.
  need_package pg_ctlcluster postgresql postgresql-contrib
  [ "$(id -u)" = 0 ] || command -v sudo >/dev/null || fail "Managing a PostgreSQL cluster needs root (or sudo)."
  # An existing cluster: the one on the usual port if any, else the first (Debian puts a new one on 5433
  # when 5432 is taken at install time).
  cluster=$(pg_lsclusters --no-header 2>/dev/null | awk -v p="$PG_PORT" '$3 == p {print $1, $2, $3, $4; exit}')
  [ -n "$cluster" ] || cluster=$(pg_lsclusters --no-header 2>/dev/null | awk 'NR == 1 {print $1, $2, $3, $4}')
  if [ -z "$cluster" ]; then
    version=$(ls /usr/lib/postgresql | sort -V | tail -1)
    port=$(free_port "$PG_PORT")
    say "creating PostgreSQL $version cluster 'main' on port $port"
    pg_createcluster "$version" main --port "$port" >/dev/null
    cluster="$version main $port down"
  fi
  read -r version name port status <<<"$cluster"
  if [ "$status" != online ] && port_taken "$port"; then
    # Its port went to another server meanwhile: move it.
    new_port=$(free_port $((port + 1)))
    say "port $port is taken by another server; moving cluster $version/$name to $new_port"
    pg_conftool "$version" "$name" set port "$new_port"
    port=$new_port
  fi
  if [ "$status" != online ]; then
    say "starting PostgreSQL cluster $version/$name on port $port"
    pg_ctlcluster "$version" "$name" start
  fi
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p "$port" && break; sleep 1; done
  pg_isready -q -h 127.0.0.1 -p "$port" || fail "PostgreSQL $version/$name did not start; see /var/log/postgresql/"
  socket_dir=/var/run/postgresql  # Debian's clusters listen there as well as on TCP
  # The role may exist already (a previous run); CREATEDB lets Django create its test database.
  as_postgres psql -q -h "$socket_dir" -p "$port" -v ON_ERROR_STOP=1 >/dev/null <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_ROLE') THEN
    CREATE ROLE $PG_ROLE LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
  ELSE
    ALTER ROLE $PG_ROLE LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
  END IF;
END \$\$;
SQL
  if ! as_postgres psql -h "$socket_dir" -p "$port" -XtAc "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'" | grep -q 1; then
    as_postgres createdb -h "$socket_dir" -p "$port" -O "$PG_ROLE" "$PG_DB"
  fi
  DATABASE="postgres://$PG_ROLE:$PG_PASSWORD@127.0.0.1:$port/$PG_DB"
  pg_usable "$DATABASE" || fail "PostgreSQL $version/$name runs on $port but refuses $PG_ROLE over TCP; check its pg_hba.conf."
  say "PostgreSQL: cluster $version/$name on 127.0.0.1:$port"
fi

# --- Redis ---
redis_usable() { [ "$(redis-cli -u "$1" ping 2>/dev/null)" = PONG ]; }
need_package redis-cli redis-tools
if [ -n "${TEST_REDIS_URL:-}" ]; then
  redis_usable "$TEST_REDIS_URL" || fail "TEST_REDIS_URL does not answer PING."
  REDIS=$TEST_REDIS_URL
  say "Redis: using TEST_REDIS_URL"
elif redis_usable "redis://127.0.0.1:$REDIS_PORT/1"; then
  REDIS="redis://127.0.0.1:$REDIS_PORT/1"
  say "Redis: using the one on 127.0.0.1:$REDIS_PORT (database 1)"
else
  # Our own, on a free port. A previous run's instance is reused while it lives.
  port=$(cat "$RUN_DIR/redis.port" 2>/dev/null || true)
  if [ -z "$port" ] || ! redis_usable "redis://127.0.0.1:$port/1"; then
    need_package redis-server redis-server
    port=$(free_port $((REDIS_PORT + 1)))
    say "starting a private Redis on 127.0.0.1:$port"
    redis-server --port "$port" --bind 127.0.0.1 --daemonize yes --save "" --appendonly no \
      --pidfile "$RUN_DIR/redis.pid" --logfile "$RUN_DIR/redis.log" --dir "$RUN_DIR"
    echo "$port" > "$RUN_DIR/redis.port"
    for _ in $(seq 1 30); do redis_usable "redis://127.0.0.1:$port/1" && break; sleep 0.2; done
  fi
  REDIS="redis://127.0.0.1:$port/1"
  redis_usable "$REDIS" || fail "Redis did not start; see $RUN_DIR/redis.log"
  say "Redis: private instance on 127.0.0.1:$port"
fi

printf 'TEST_DATABASE_URL=%s\nTEST_REDIS_URL=%s\n' "$DATABASE" "$REDIS" > "$OUT"

# --- nginx and openssl: installed only; the nginx tests start their own on free ports ---
bash nginx/install.sh
say "nginx $(nginx -v 2>&1 | sed 's/.*nginx\///') installed (tests start their own)"

# --- espeak-ng: phonemes for typed scripts (a separate GPL program, never linked; README "Licences") ---
need_package espeak-ng espeak-ng
say "espeak-ng $(espeak-ng --version | awk '{print $4}') ready"

# --- Chromium for the browser tests: Debian's package, driven by Playwright (no browser download) ---
need_package chromium chromium
if ! fc-list 2>/dev/null | grep -qi "noto.*cjk"; then
  # Without a CJK font the Chinese pages render as boxes in screenshots.
  if [ "$(id -u)" = 0 ]; then apt-get install -y -qq fonts-noto-cjk >/dev/null || say "could not install fonts-noto-cjk"; fi
fi
say "Chromium $(chromium --version 2>/dev/null | awk '{print $2}') ready"
