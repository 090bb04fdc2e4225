#!/usr/bin/env bash
# Makes sure the real services the test suite talks to are installed and running:
# PostgreSQL on 127.0.0.1:5432 with a `heygem` role (CREATEDB), Redis on 127.0.0.1:6379; and the programs
# it runs: nginx, espeak-ng, Chromium.
# Installs missing packages with apt-get when running as root; starts servers without systemd.
set -euo pipefail

PG_HOST=127.0.0.1 PG_PORT=5432 PG_ROLE=heygem PG_PASSWORD=heygem PG_DB=heygem
REDIS_PORT=6379

say() { echo "[services] $*"; }
need_package() {  # need_package COMMAND PACKAGE...
  command -v "$1" >/dev/null 2>&1 && return 0
  if [ "$(id -u)" != 0 ]; then
    say "'$1' is missing. Install it first: sudo apt-get install ${*:2}"; exit 1
  fi
  command -v apt-get >/dev/null || { say "'$1' is missing and this is not a Debian/Ubuntu system: install ${*:2} yourself."; exit 1; }
  say "installing ${*:2}"
  if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -print -quit 2>/dev/null)" ] || ! apt-get install -y -qq "${@:2}" >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${@:2}" >/dev/null
  fi
}
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi; }

# --- PostgreSQL ---
export DEBIAN_FRONTEND=noninteractive
need_package pg_ctlcluster postgresql postgresql-contrib
need_package psql postgresql-client
if ! pg_isready -q -h "$PG_HOST" -p "$PG_PORT"; then
  cluster=$(pg_lsclusters --no-header 2>/dev/null | awk -v p="$PG_PORT" '$3 == p {print $1, $2; exit}')
  if [ -z "$cluster" ]; then
    version=$(ls /usr/lib/postgresql | sort -V | tail -1)
    say "creating PostgreSQL $version cluster 'main' on port $PG_PORT"
    pg_createcluster "$version" main --port "$PG_PORT" >/dev/null
    cluster="$version main"
  fi
  say "starting PostgreSQL cluster $cluster"
  pg_ctlcluster $cluster start
  for _ in $(seq 1 30); do pg_isready -q -h "$PG_HOST" -p "$PG_PORT" && break; sleep 1; done
  pg_isready -q -h "$PG_HOST" -p "$PG_PORT" || { say "PostgreSQL did not start; see /var/log/postgresql/"; exit 1; }
fi
# The role may exist already (a previous run); CREATEDB lets Django create its test database.
as_postgres psql -q -p "$PG_PORT" -v ON_ERROR_STOP=1 >/dev/null <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_ROLE') THEN
    CREATE ROLE $PG_ROLE LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
  ELSE
    ALTER ROLE $PG_ROLE LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
  END IF;
END \$\$;
SQL
if ! as_postgres psql -p "$PG_PORT" -tAc "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'" | grep -q 1; then
  as_postgres createdb -p "$PG_PORT" -O "$PG_ROLE" "$PG_DB"
fi
say "PostgreSQL ready on $PG_HOST:$PG_PORT"

# --- Redis ---
need_package redis-server redis-server
if ! redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1; then
  say "starting Redis on 127.0.0.1:$REDIS_PORT"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --daemonize yes --save "" --appendonly no \
    --logfile /tmp/heygem-test-redis.log
  for _ in $(seq 1 30); do redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.2; done
fi
redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null || { say "Redis did not start; see /tmp/heygem-test-redis.log"; exit 1; }
say "Redis ready on 127.0.0.1:$REDIS_PORT"

# --- nginx and openssl: installed only; the nginx tests start their own on free ports ---
bash "$(dirname "$0")/../nginx/install.sh"
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
