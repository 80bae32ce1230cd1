#!/usr/bin/env bash
# Make sure Caddy (the reverse proxy `manage.py serve` starts when none answers) is installed.
# Safe to run repeatedly. As root it installs the Debian package; otherwise it only says what is
# missing. Exits non-zero only in CI (CI=true), where the proxy tests need it.
set -u

if command -v caddy >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "proxy.sh: caddy is not installed and this is not root: install it (apt-get install caddy)" \
         "for domains and the public URL; TinyForge runs without it"
    [ "${CI:-}" = "true" ] && exit 1
    exit 0
fi
echo "proxy.sh: installing caddy via apt-get"
if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq caddy; }; then
    echo "proxy.sh: installing caddy failed" >&2
    [ "${CI:-}" = "true" ] && exit 1
    exit 0
fi
# The package enables a system service on machines with systemd; TinyForge starts its own Caddy
# (or uses that one: it answers on the same admin port, 2019) either way.
caddy version
