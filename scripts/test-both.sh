#!/usr/bin/env bash
# The whole suite on SQLite and on PostgreSQL, side by side (CI: `make test-both`).
#
# Prepared once (dependencies, translations, engine, browser, module boundaries), then two
# pytest sessions at once. They cannot see each other's objects: each session has its own
# `tinyforge.instance` label (tinyforge/settings_test.py) and removes only what carries it, its
# own registries on free ports, and its own test database (SQLite in memory; on PostgreSQL
# `test_tinyforge_<label>`). Most of a session's time is spent waiting on the engine, so two
# sessions take far less than twice one. Each one's output is kept in test-artifacts/ and
# printed when both are done; the exit status is non-zero when either failed.
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh dev || exit 1
bash scripts/engine.sh
bash scripts/proxy.sh
bash scripts/browser.sh
PG_URL=$(bash scripts/postgres.sh) || exit 1
.venv/bin/lint-imports || exit 1

mkdir -p test-artifacts
export TINYFORGE_TEST_POSTGRES_URL=$PG_URL
started=$(date +%s)
( env -u DATABASE_URL .venv/bin/python -m pytest "$@" >test-artifacts/suite-sqlite.log 2>&1
  echo $? >test-artifacts/suite-sqlite.rc
  echo "SQLite suite: $(( $(date +%s) - started )) s" >>test-artifacts/suite-sqlite.log ) &
sqlite_job=$!
( DATABASE_URL=$PG_URL .venv/bin/python -m pytest "$@" >test-artifacts/suite-postgres.log 2>&1
  echo $? >test-artifacts/suite-postgres.rc
  echo "PostgreSQL suite: $(( $(date +%s) - started )) s" >>test-artifacts/suite-postgres.log ) &
postgres_job=$!
wait "$sqlite_job" "$postgres_job"

status=0
for db in sqlite postgres; do
    echo "===== the suite on $db ====="
    cat "test-artifacts/suite-$db.log"
    [ "$(cat "test-artifacts/suite-$db.rc" 2>/dev/null)" = "0" ] || status=1
done
echo "both suites: $(( $(date +%s) - started )) s"
exit "$status"
