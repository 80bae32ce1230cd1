"""The host access policy: what a workload may reach on the Docker host.

A container that mounts the Docker socket or a host directory such as ``/`` or ``/etc``, runs
privileged, joins the host's network/pid/ipc namespaces, or gets extra capabilities or devices
can take over the host. By default TinyForge refuses all of that (a 422 naming the field), for
every kind of workload. Two install settings open it:

- ``TINYFORGE_HOST_PATHS``: directories (comma-separated) any staff user may bind-mount from;
  never a way to the Docker socket.
- ``TINYFORGE_ALLOW_HOST_ACCESS``: everything above is allowed, but only to superusers (and to
  the system itself: commands and tasks act with ``user=None``).

What a workload already had before a change stays allowed (an upgrade must not lock anyone out
of editing a title); only what a change adds is checked.
"""
import posixpath
from dataclasses import dataclass
from urllib.parse import urlparse

from django.conf import settings
from django.utils.translation import gettext as _

# Where a Docker (or containerd) socket usually lives; any "*.sock" path counts too.
SOCKET_PATHS = ("/var/run/docker.sock", "/run/docker.sock")


@dataclass(frozen=True)
class HostAccess:
    """One use of the host: ``key`` identifies it across edits, ``field`` names it in errors
    ("volumes[0].host_path", "spec.compose.services.web.privileged"), ``what`` says it."""

    key: tuple
    field: str
    what: str


def socket_paths():
    paths = set(SOCKET_PATHS)
    docker_host = getattr(settings, "DOCKER_HOST", "") or ""
    if docker_host.startswith("unix://"):
        paths.add(posixpath.normpath(urlparse(docker_host).path or "/"))
    return paths


def host_path_access(path, field):
    """The HostAccess a bind mount of host ``path`` needs, or None when any staff user may."""
    if not isinstance(path, str) or not path.startswith("/"):
        return HostAccess(("path", str(path)), field,
                          _("the host path %(path)s") % {"path": str(path)[:200]})
    path = posixpath.normpath(path)
    if path.startswith("//"):  # POSIX keeps a leading "//"; the engine does not
        path = "/" + path.lstrip("/")
    if path.endswith(".sock") or any(
        sock == path or sock.startswith(path.rstrip("/") + "/") for sock in socket_paths()
    ):
        return HostAccess(("socket", path), field, _("the Docker socket (%(path)s)") % {
            "path": path})
    for allowed in getattr(settings, "TINYFORGE_HOST_PATHS", []):
        allowed = posixpath.normpath(allowed)
        if allowed.startswith("/") and (
            path == allowed or path.startswith(allowed.rstrip("/") + "/")
        ):
            return None
    return HostAccess(("path", path), field, _("the host path %(path)s") % {"path": path})


def volume_access(volumes):
    """Host access of a workload's volume list (dicts or Volume rows)."""
    found = []
    for index, volume in enumerate(volumes):
        host_path = volume.get("host_path") if isinstance(volume, dict) else volume.host_path
        if host_path:
            access = host_path_access(host_path, f"volumes[{index}].host_path")
            if access:
                found.append(access)
    return found


def spec_access(kind, spec):
    """Host access a kind's spec asks for (the source knows its own options)."""
    from apps.workloads.sources import UnknownSource, get_source

    try:
        source = get_source(kind)
    except UnknownSource:
        return []
    return [HostAccess(a.key, f"spec.{a.field}", a.what) for a in source.host_access(spec)]


def check(wanted, had=(), user=None):
    """Refuse each HostAccess in ``wanted`` that is not already in ``had``.

    Raises InvalidInput (422) while the install keeps host access closed, NotAllowed (403) for
    anyone but a superuser once it is open. ``user=None`` is the system (commands, tasks)."""
    from apps.core.errors import InvalidInput, NotAllowed

    had_keys = {access.key for access in had}
    new = [access for access in wanted if access.key not in had_keys]
    if not new:
        return
    if not settings.TINYFORGE_ALLOW_HOST_ACCESS:
        raise InvalidInput({access.field: _(
            "%(what)s is not allowed: this install refuses host access "
            "(see TINYFORGE_ALLOW_HOST_ACCESS and TINYFORGE_HOST_PATHS)."
        ) % {"what": _capitalized(access.what)} for access in new})
    if user is not None and not (user.is_active and user.is_superuser):
        raise NotAllowed({access.field: _(
            "%(what)s gives control of the host: only a superuser may use it."
        ) % {"what": _capitalized(access.what)} for access in new})


def _capitalized(text):
    return text[:1].upper() + text[1:]
