"""Caddy's certificate storage, repaired when a crash damaged it.

Caddy killed while it writes a certificate leaves a cut-off file behind (measured: its metadata
JSON), and from then on refuses every config that manages that name: "managing certificates for
[app.example.test]: ... app.example.test: caching certificate: decoding certificate metadata:
unexpected end of JSON input". Nothing TinyForge pushes for HTTPS would be taken again.

``repairing`` wraps the route changes: on that refusal it removes the damaged entry
(``certificates/<issuer>/<host>/``, only when one of its files is cut off or unreadable) and
tries again, once per damaged name; Caddy then issues the certificate anew. It does so only in
the storage it may change, ``TINYFORGE_PROXY_STORAGE`` (the embedded Caddy's by default) and
only when that is the storage the Caddy answering reports. Otherwise the error says which entry
to remove. Host names and paths only reach the log.
"""
import functools
import json
import logging
import re
import shutil
from pathlib import Path

from django.conf import settings

from apps.workloads.proxy import caddy_api
from apps.workloads.proxy.caddy_api import ProxyError

log = logging.getLogger("tinyforge.proxy")

_DAMAGED = re.compile(r": (?P<host>[a-z0-9*][a-z0-9.*-]{0,252}): (?:caching|loading) "
                      r"certificate", re.IGNORECASE)
MAX_REPAIRS = 10  # damaged names repaired per call at most: each is one more try


def damaged_host(message):
    """The host name whose stored certificate Caddy could not load, from its error text."""
    match = _DAMAGED.search(message or "")
    host = match.group("host").lower() if match else ""
    return host if host and ".." not in host and "/" not in host else None


def owned_root():
    """The storage root TinyForge may repair, when the Caddy answering uses it; else None."""
    try:
        storage = caddy_api.get("/config/storage") or {}
    except ProxyError:
        return None
    root = storage.get("root") if storage.get("module", "file_system") == "file_system" else None
    if not root:
        return None
    try:
        if Path(root).resolve() != Path(settings.TINYFORGE_PROXY_STORAGE).resolve():
            return None
    except OSError:
        return None
    return Path(root)


def _damaged(directory, host):
    """Is the stored entry for ``host`` cut off or unreadable (or partly missing)?"""
    try:
        json.loads((directory / f"{host}.json").read_text())
        certificate = (directory / f"{host}.crt").read_text()
        key = (directory / f"{host}.key").read_text()
    except (OSError, ValueError):
        return True
    return "-----END CERTIFICATE-----" not in certificate or "-----END" not in key


def repair(host):
    """Remove the damaged entries of ``host`` in the owned storage; the paths removed."""
    root = owned_root()
    if root is None:
        return []
    removed = []
    for directory in root.glob(f"certificates/*/{glob_escape(host)}"):
        if directory.is_dir() and _damaged(directory, host):
            shutil.rmtree(directory, ignore_errors=True)
            removed.append(directory)
            log.warning("removed the damaged stored certificate of %s (%s); Caddy issues it "
                        "again", host, directory)
    return removed


def glob_escape(text):
    return re.sub(r"([*?\[])", r"[\1]", text)


def repairing(change):
    """Run ``change`` (an idempotent route change); when Caddy refuses it over a damaged
    stored certificate, repair that entry and run it again."""

    @functools.wraps(change)
    def run(*args, **kwargs):
        repaired = set()
        while True:
            try:
                return change(*args, **kwargs)
            except ProxyError as exc:
                host = damaged_host(exc.message) if exc.code == "refused" else None
                if host is None or host in repaired or len(repaired) >= MAX_REPAIRS:
                    raise
                if not repair(host):
                    raise ProxyError("refused", f"{exc.message} -- Caddy's stored certificate "
                                     f"of {host} is damaged (a crash while writing it?): "
                                     f"remove certificates/*/{host}/ from its storage, or set "
                                     "TINYFORGE_PROXY_STORAGE to that storage to let "
                                     "TinyForge do it") from None
                repaired.add(host)

    return run
