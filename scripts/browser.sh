#!/usr/bin/env bash
# Make sure a headless Chromium is available for the browser tests (tests/metrics/
# test_admin_browser.py). Safe to run repeatedly: exits 0 at once when chromium is installed.
# `playwright install` cannot download browsers here, so the tests drive Debian's chromium.
set -u

if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "browser.sh: chromium is missing; install it (apt-get install chromium) or run as root" >&2
    exit 1
fi
echo "browser.sh: installing chromium via apt-get"
apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium ||
    { echo "browser.sh: chromium installation failed" >&2; exit 1; }
command -v chromium >/dev/null 2>&1
