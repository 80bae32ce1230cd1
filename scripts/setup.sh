#!/usr/bin/env bash
# Prepare a TinyForge checkout: virtualenv, dependencies, database, translations, static files.
# Safe to run again. Usage: scripts/setup.sh [dev]
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
reqs=requirements.txt
[ "${1:-}" = "dev" ] && reqs=requirements-dev.txt

if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
stamp=".venv/.installed-$(sha256sum "$reqs" requirements.txt | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
    .venv/bin/pip install -q --disable-pip-version-check -r "$reqs"
    touch "$stamp"
fi

if ! command -v msgfmt >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gettext
fi
# Caddy, the reverse proxy for domains and the public URL (installed as root, else a message).
bash scripts/proxy.sh
.venv/bin/python manage.py compilemessages --ignore=.venv -v 0
.venv/bin/python manage.py migrate --noinput -v 0
if [ "${1:-}" != "dev" ]; then
    .venv/bin/python manage.py collectstatic --noinput -v 0
    .venv/bin/python manage.py ensure_admin
fi
