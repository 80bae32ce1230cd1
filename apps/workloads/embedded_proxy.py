"""The Caddy that ``manage.py serve`` runs itself when none answers at TINYFORGE_PROXY_ADMIN.

A Caddy already answering there (run by systemd, in a container, by another tool) is used as
it is: serve starts none and never stops it. Otherwise serve starts ``caddy run`` with a
generated config that holds only the admin listener, storage under the data directory
(``<data>/caddy``: the internal CA, ACME certificates) and safe defaults; everything else
(TinyForge's server block and routes) is pushed through the admin API afterwards, by the
proxy package, like for any other Caddy. The child runs in a session of its own and stops with
the rest (``supervisor``).

The probe here is a bare HTTP request (stdlib), not the proxy package's client: this module
decides only whether a process has to be started.
"""
import ipaddress
import json
import logging
import os
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext as _

from apps.workloads import supervisor

log = logging.getLogger("tinyforge.serve")

PROBE_TIMEOUT_S = 0.5
START_DEADLINE_S = 15
# Requests in flight when serve stops get this long before Caddy closes them: well inside
# serve's stop bound, so Caddy never has to be killed.
STOP_GRACE = "2s"
CHILD_NAME = "caddy"


def admin_answers(admin=None, timeout=PROBE_TIMEOUT_S):
    """True when anything answers HTTP at the admin endpoint (any status: it is taken)."""
    url = (admin or settings.TINYFORGE_PROXY_ADMIN).rstrip("/") + "/config/"
    try:
        with urllib.request.urlopen(url, timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True
    except (OSError, ValueError):  # URLError, refused, timed out
        return False


def storage_dir():
    return Path(settings.TINYFORGE_PROXY_STORAGE)


def log_path():
    return storage_dir() / "caddy.log"


def config_path():
    return supervisor.run_dir() / "caddy.json"


def _admin_listen(admin):
    parts = urlsplit(admin)
    host = parts.hostname or "127.0.0.1"
    return (f"[{host}]" if ":" in host else host) + f":{parts.port}", host


def _local(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def caddy_config(admin):
    """The initial config: admin listener, storage, and nothing served yet."""
    listen, _host = _admin_listen(admin)
    return {
        # Not persisted: TinyForge pushes every route again at start and in each reconcile.
        "admin": {"listen": listen, "config": {"persist": False}},
        "storage": {"module": "file_system", "root": str(storage_dir())},
        "apps": {
            "http": {"grace_period": STOP_GRACE},
            # The internal CA's root stays in the storage (pki/authorities/local/root.crt); the
            # machine's trust store is the operator's to change, not serve's.
            "pki": {"certificate_authorities": {"local": {"install_trust": False}}},
        },
    }


def ensure_caddy(children, out, deadline_s=START_DEADLINE_S):
    """Start Caddy under ``children`` unless one answers already; True when a Caddy answers
    at the end (started here or not). Writes one line saying what it did."""
    admin = settings.TINYFORGE_PROXY_ADMIN
    if admin_answers(admin):
        out.write(_("A proxy already answers at %(admin)s: TinyForge uses it and starts no "
                    "Caddy.") % {"admin": admin})
        return True
    _listen, host = _admin_listen(admin)
    if not _local(host):
        out.write(_("Nothing answers at %(admin)s, which is not on this machine: domains stay "
                    "offline until that Caddy runs.") % {"admin": admin})
        return False
    binary = shutil.which("caddy")
    if not binary:
        out.write(_("Caddy is not installed (no caddy on PATH): domains and the public URL "
                    "stay offline. Install it with apt-get install caddy (scripts/setup.sh "
                    "does as root)."))
        return False
    storage_dir().mkdir(parents=True, exist_ok=True)
    config_path().write_text(json.dumps(caddy_config(admin), indent=1))
    caddy_home = storage_dir() / "home"
    env = {**os.environ, "HOME": str(caddy_home), "XDG_DATA_HOME": str(caddy_home / "data"),
           "XDG_CONFIG_HOME": str(caddy_home / "config")}
    with open(log_path(), "ab") as output:
        child = children.start(CHILD_NAME, [binary, "run", "--config", str(config_path())],
                               env=env, output=output)
    deadline = time.monotonic() + deadline_s
    while child.poll() is None and time.monotonic() < deadline:
        if admin_answers(admin):
            out.write(_("Caddy started (admin %(admin)s, storage %(storage)s, log %(log)s).")
                      % {"admin": admin, "storage": storage_dir(), "log": log_path()})
            return True
        time.sleep(supervisor.POLL_SECONDS)
    # It exited (a port taken, a bad address) or never answered: run without it rather than
    # take the web and the deploys down with it.
    children.forget(CHILD_NAME, stop=True)
    out.write(_("Caddy did not come up at %(admin)s; TinyForge runs without it (see "
                "%(log)s).") % {"admin": admin, "log": log_path()})
    return False


def publish_routes(out):
    """Once a Caddy answers: push every route TinyForge owns (workloads with domains and, with
    a public URL, TinyForge itself), as the reconcile pass does."""
    from apps.workloads import routing  # imported late: it pulls in the models

    try:
        routing.sync_all()
    except Exception as exc:  # the next reconcile pass publishes them again
        log.warning("serve: publishing routes failed: %s", exc)
        out.write(_("Publishing routes skipped: %(error)s") % {"error": exc})
        return False
    return True
