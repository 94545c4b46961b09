#!/usr/bin/env bash
# Start a local PostgreSQL for the test suite and print the URL the tests use.
# Debian's postgresql package (in the base image; installed here if missing) on loopback only.
set -euo pipefail
if ! command -v pg_lsclusters >/dev/null 2>&1; then
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
fi
read -r version cluster _ < <(pg_lsclusters --no-header | head -n 1) || true
if [ -z "${version:-}" ]; then
  version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
  cluster=main
  pg_createcluster "$version" "$cluster" >&2
fi
pg_ctlcluster "$version" "$cluster" start >&2 || pg_ctlcluster "$version" "$cluster" status >&2
port=$(pg_lsclusters --no-header | awk -v v="$version" -v c="$cluster" '$1==v && $2==c {print $3}')
# A role named after the user running the tests, authenticated by the local socket's peer check:
# no password exists anywhere.
user=$(id -un)
runuser -u postgres -- psql -p "$port" -qtAc \
  "DO \$\$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname='$user') THEN
     CREATE ROLE \"$user\" LOGIN CREATEDB; END IF; END\$\$;" >&2
echo "postgresql+psycopg://${user}@/postgres?host=/var/run/postgresql&port=${port}"
