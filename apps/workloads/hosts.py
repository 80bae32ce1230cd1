"""Hosts: which engine a workload's operations go to, and whether that engine answers.

- ``local_host()``: the local engine's Host (created by the first migration; again here if a
  test or an operator removed it).
- ``on_host(host)``: the block every engine operation for a workload runs in. It sends the
  engine calls to the host (``engine.using``) and refuses at once, with code ``host_down``, when
  the host is marked down: no worker waits on a dead host.
- ``check_host(host)`` / ``check_hosts()``: the minute's check. A host is marked down only after
  two failed checks in a row (one lost packet never takes a healthy server out), and up again at
  the first answer. Each change is an event and a notice (``apps.core.notices.host_down``).
"""
import contextlib
import dataclasses
import logging
import re

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core import notices
from apps.core.errors import Conflict, InvalidInput
from apps.workloads import engine, proxy
from apps.workloads.engine import EngineError
from apps.workloads.events import record_event
from apps.workloads.models import NAME_RE, Host, HostState

log = logging.getLogger("tinyforge.hosts")

# Failed checks in a row before a host is marked down.
DOWN_AFTER = 2


def local_host():
    host = Host.objects.filter(is_local=True).order_by("pk").first()
    if host is None:
        with transaction.atomic():
            host, _created = Host.objects.get_or_create(
                name="local", defaults={"is_local": True, "state": HostState.UP})
    return host


def host_of(workload):
    """The workload's host (the local one for rows older than hosts)."""
    return workload.host if workload.host_id is not None else local_host()


class HostDown(EngineError):
    def __init__(self, host):
        super().__init__("host_down", f"host {host.name} is down", {"host": host.name})


@contextlib.contextmanager
def on_host(host):
    """Run the block's engine calls on ``host``, and its proxy calls on the host's Caddy (when
    it names one); raises HostDown when it is marked down."""
    if host.is_down:
        raise HostDown(host)
    with engine.using(host.engine_target()), proxy.using_admin(host.proxy_admin):
        yield host


def workload_engine(workload):
    """``on_host`` for the workload's host."""
    return on_host(host_of(workload))


def probe(host, timeout=None):
    """The engine's facts, or raises EngineError. A short timeout of its own: a check never
    holds a worker for long, whatever the host's call timeout is."""
    target = dataclasses.replace(
        host.engine_target(), timeout=timeout or settings.TINYFORGE_HOST_CHECK_TIMEOUT)
    with engine.using(target):
        try:
            return engine.engine_facts()
        finally:
            engine.reset(target)  # a check's short-timeout client is not kept


def check_host(host):
    """One check of ``host``; returns its state afterwards."""
    now = timezone.now()
    try:
        facts = probe(host)
    except EngineError as exc:
        failed = host.failed_checks + 1
        state = HostState.DOWN if failed >= DOWN_AFTER else host.state
        changed = Host.objects.filter(pk=host.pk).exclude(state=state).exists()
        Host.objects.filter(pk=host.pk).update(
            failed_checks=failed, state=state, last_checked_at=now, last_error=exc.code)
        if changed and state == HostState.DOWN:
            log.warning("host %s is down after %s failed checks (%s)", host.name, failed, exc.code)
            _record(host, "host_down", _("Host %(name)s is down: its engine did not answer "
                                         "%(count)s checks in a row.") % {
                "name": host.name, "count": failed})
            notices.host_down.send_robust(sender=Host, host=host.name, code=exc.code)
        host.failed_checks, host.state = failed, state
        return state
    changed = host.state != HostState.UP
    Host.objects.filter(pk=host.pk).update(
        failed_checks=0, state=HostState.UP, last_checked_at=now, last_error="",
        engine_info=facts)
    if changed and host.state == HostState.DOWN:
        log.info("host %s is up again", host.name)
        _record(host, "host_up", _("Host %(name)s answers again.") % {"name": host.name})
    host.failed_checks, host.state, host.engine_info = 0, HostState.UP, facts
    return HostState.UP


def check_hosts():
    """Check every host (the scheduled task); returns {name: state}."""
    return {host.name: check_host(host) for host in Host.objects.order_by("pk")}


def _record(host, kind, message):
    for workload in host.workloads.all():
        record_event(workload, kind, message)


# --- Changes to hosts: one entry point each (API and admin call these) -------------------------

_URL_RE = re.compile(
    r"^(?:unix:///\S+|tcp://[A-Za-z0-9.\-\[\]:]+:\d{1,5}|ssh://[A-Za-z0-9._-]+@[A-Za-z0-9.\-]+"
    r"(?::\d{1,5})?(?:/\S*)?)$")
FIELDS = ("name", "engine_url", "tls_ca", "tls_cert", "tls_key", "ssh_key", "proxy_admin",
          "max_deploys")
MAX_DEPLOYS_LIMIT = 64


def clean_host_values(values, host=None):
    """The values merged onto ``host`` (None: a new one), checked; raises InvalidInput or
    Conflict."""
    errors = {}
    merged = {field: getattr(host, field) if host else "" for field in FIELDS}
    if host is None:
        merged["max_deploys"] = 0
    merged.update({k: v for k, v in values.items() if v is not None})
    limit = merged["max_deploys"]
    if isinstance(limit, bool) or not isinstance(limit, int) or not (
            0 <= limit <= MAX_DEPLOYS_LIMIT):
        errors["max_deploys"] = _("Use a whole number from 0 (no limit) to %(max)s.") % {
            "max": MAX_DEPLOYS_LIMIT}
    name = merged["name"]
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        errors["name"] = _("Use 1-63 lowercase letters, digits, '.', '_' or '-', starting "
                           "with a letter or digit.")
    elif Host.objects.filter(name=name).exclude(pk=getattr(host, "pk", None)).exists():
        raise Conflict("name", _("A host named %(name)s exists already.") % {"name": name})
    url = merged["engine_url"]
    if host is not None and host.is_local:
        if url != host.engine_url:
            errors["engine_url"] = _("The local engine's address is set by DOCKER_HOST.")
    elif not url:
        errors["engine_url"] = _("Give the engine's address: tcp://HOST:2376 or "
                                 "ssh://user@host[:port].")
    elif not _URL_RE.match(url):
        errors["engine_url"] = _("Use unix:///path, tcp://HOST:PORT or ssh://user@host[:port].")
    elif url.startswith("tcp://"):
        for field in ("tls_ca", "tls_cert", "tls_key"):
            if "BEGIN" not in (merged[field] or ""):
                errors[field] = _("A TCP engine needs TLS: give this PEM text.")
    elif url.startswith("ssh://") and "PRIVATE KEY" not in (merged["ssh_key"] or ""):
        errors["ssh_key"] = _("An SSH engine needs a private key (PEM or OpenSSH text).")
    if errors:
        raise InvalidInput(errors)
    return merged


def create_host(values):
    """A new host from the API's or the admin's values; raises InvalidInput or Conflict."""
    merged = clean_host_values(values)
    return Host.objects.create(**merged)


def update_host(host, values):
    merged = clean_host_values(values, host)
    for field, value in merged.items():
        setattr(host, field, value)
    host.save()
    engine.reset(None)  # no client keeps the old address or certificates
    return host


def delete_host(host):
    if host.is_local:
        raise Conflict("host", _("The local engine cannot be removed."))
    names = list(host.workloads.values_list("name", flat=True)[:10])
    if names:
        raise Conflict("host", _("Workloads still run on this host: %(names)s. Move or "
                                 "delete them first.") % {"names": ", ".join(names)})
    host.delete()


def test_connection(host):
    """Check the host now (as the minute's check does) and return its facts; raises
    EngineError when it does not answer."""
    facts = probe(host)
    Host.objects.filter(pk=host.pk).update(
        engine_info=facts, state=HostState.UP, failed_checks=0, last_checked_at=timezone.now(),
        last_error="")
    host.engine_info, host.state, host.failed_checks = facts, HostState.UP, 0
    return facts
