"""State changes to workloads (create, update, delete) — one function each, shared by the API,
the admin and commands. Deploys are not here: they go through apps.deploys.dispatch."""
import json
import re

from django.db import IntegrityError, transaction
from django.dispatch import Signal
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from apps.core.errors import Conflict, InvalidInput, NotAllowed  # noqa: F401 - raised here
from apps.workloads import host_access, hosts, proxy, routing
from apps.workloads.engine import EngineError
from apps.workloads.events import record_event
from apps.workloads.models import NAME_RE, EnvVar, Host, Volume, Workload
from apps.workloads.sources import SpecError, UnknownSource, get_source
from apps.workloads.sources.runner import domains_of, ports_clash, published_ports

TRANSLATED = ("title", "description", "title_en", "title_ru", "description_en", "description_ru")
_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# A spec is stored as JSON and handed to the engine: bounded, and no control characters in its
# strings (tabs and line breaks aside) -- PostgreSQL cannot even store a NUL in a JSON column.
SPEC_MAX_CHARS = 200_000
_SPEC_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


# Sent (with ``workload``) before a workload is torn down and deleted: apps that keep work for
# it (queued and waiting deploys) end that work first, at once.
workload_deleting = Signal()


def clean_spec(kind, spec):
    """The source-validated spec; raises InvalidInput with fields prefixed by "spec." ."""
    try:
        source = get_source(kind)
    except UnknownSource as exc:
        raise InvalidInput({"kind": str(exc)}) from None
    problem = _spec_problem(spec)
    if problem:
        raise InvalidInput({"spec": problem})
    try:
        return source.clean(spec)
    except SpecError as exc:
        raise InvalidInput({f"spec.{key}": msg for key, msg in exc.errors.items()}) from None


def _spec_problem(spec):
    try:
        text = json.dumps(spec)
    except (TypeError, ValueError, RecursionError):
        return _("The spec must be plain JSON.")
    if len(text) > SPEC_MAX_CHARS:
        return ngettext("The spec is too large (at most %(max)s character).",
                        "The spec is too large (at most %(max)s characters).",
                        SPEC_MAX_CHARS) % {"max": SPEC_MAX_CHARS}
    stack = [spec]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str) and _SPEC_CONTROL.search(item):
            return _("Control characters are not allowed in the spec.")
    return None


def create_workload(*, name, kind, spec, ref_id=None, env=None, volumes=None, chain=None,
                    auto_backup=None, user=None, host=None, **texts):
    """Create a workload with its env and volumes; raises InvalidInput, NotAllowed or Conflict.

    ``user`` is who acts (None: the system); the host access policy depends on it. ``host``:
    a Host or a host's name (None: the local engine)."""
    errors = _name_errors(name)
    host = _resolve_host(host, errors)
    try:
        spec = clean_spec(kind, spec)
    except InvalidInput as exc:
        errors.update(exc.errors)
    env_rows = _clean_env(env or [], {}, errors)
    volume_rows = _clean_volumes(volumes or [], errors)
    if errors:
        raise InvalidInput(errors)
    host_access.check(host_access.spec_access(kind, spec) + host_access.volume_access(volume_rows),
                      user=user)
    _check_unique(name=name, kind=kind, ref_id=ref_id or None)
    _check_ports(spec)
    _check_domains(spec)
    fields = {key: value for key, value in texts.items() if key in TRANSLATED and value is not None}
    try:
        with transaction.atomic():
            workload = Workload.objects.create(
                name=name, kind=kind, spec=spec, ref_id=ref_id or None, auto_backup=auto_backup,
                host=host, **fields
            )
            _store_children(workload, env_rows, volume_rows)
            if chain:
                set_chain(workload, chain)
    except IntegrityError:
        # The name was checked above, so the default ref_id (the new id) is what collided.
        message = _("A workload with this name or reference already exists.")
        raise Conflict("ref_id", message) from None
    record_event(workload, "created", _("Workload created."))
    return workload


def _resolve_host(host, errors):
    if host is None or host == "":
        return hosts.local_host()
    if isinstance(host, Host):
        return host
    found = Host.objects.filter(name=host).first()
    if found is None:
        errors["host"] = _("There is no host named %(name)s.") % {"name": host}
    return found


def update_workload(workload, changes, user=None):
    """Apply a partial update (dict of field -> value); env/volumes replace the whole list.

    ``user`` is who acts (None: the system); only host access the change adds is checked."""
    errors = {}
    old_spec = workload.spec
    kind = changes.get("kind", workload.kind)
    spec = changes.get("spec", workload.spec)
    if "kind" in changes or "spec" in changes:
        try:
            spec = clean_spec(kind, spec)
        except InvalidInput as exc:
            errors.update(exc.errors)
    name = changes.get("name", workload.name)
    errors.update(_name_errors(name))
    old_env = {var.key: var for var in workload.env_vars.all()}
    env_rows = _clean_env(changes["env"], old_env, errors) if "env" in changes else None
    volume_rows = _clean_volumes(changes["volumes"], errors) if "volumes" in changes else None
    if errors:
        raise InvalidInput(errors)
    old_volumes = list(workload.volumes.all())
    host_access.check(
        host_access.spec_access(kind, spec)
        + host_access.volume_access(old_volumes if volume_rows is None else volume_rows),
        had=host_access.spec_access(workload.kind, workload.spec)
        + host_access.volume_access(old_volumes),
        user=user,
    )
    ref_id = changes.get("ref_id", workload.ref_id) or str(workload.pk)
    _check_unique(name=name, kind=kind, ref_id=ref_id, exclude=workload.pk)
    if "kind" in changes or "spec" in changes:
        # Only when the spec changes: a rename must not trip over a clash saved before this check.
        _check_ports(spec, exclude=workload.pk)
        _check_domains(spec, exclude=workload.pk)
    with transaction.atomic():
        workload.name, workload.kind, workload.spec, workload.ref_id = name, kind, spec, ref_id
        for key in TRANSLATED:
            if changes.get(key) is not None:
                setattr(workload, key, changes[key])
        if "auto_backup" in changes:
            workload.auto_backup = changes["auto_backup"]
        workload.save()
        if env_rows is not None:
            workload.env_vars.all().delete()
        if volume_rows is not None:
            _keep_engine_names(workload, volume_rows)
            workload.volumes.all().delete()
        _store_children(workload, env_rows or [], volume_rows or [])
        if changes.get("chain") is not None:
            set_chain(workload, changes["chain"])
    if domains_of(spec) != domains_of(old_spec):
        routing.refresh(workload)  # domains added or removed take effect now
    record_event(workload, "updated", _("Workload settings changed."))
    return workload


def delete_workload(workload, force=False):
    """Tear the workload's containers down, then delete it and (by cascade) its rows.

    Raises EngineError when the engine cannot tear down, unless ``force``: then the rows go and
    the containers are left for the operator.
    """
    workload_deleting.send(sender=Workload, workload=workload)
    if domains_of(workload.spec):
        routing.withdraw(workload)  # traffic stops before the containers go
    try:
        with hosts.workload_engine(workload):
            get_source(workload.kind).teardown(workload)
    except (EngineError, UnknownSource):
        if not force:
            raise
    workload.delete()


def _name_errors(name):
    if isinstance(name, str) and NAME_RE.fullmatch(name):
        return {}
    return {"name": _(
        "Use 1-63 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit."
    )}


def _check_unique(*, name, kind, ref_id, exclude=None):
    others = Workload.objects.exclude(pk=exclude) if exclude else Workload.objects.all()
    if others.filter(name=name).exists():
        raise Conflict("name", _("A workload named '%(name)s' already exists.") % {"name": name})
    if ref_id and others.filter(kind=kind, ref_id=ref_id).exists():
        raise Conflict("ref_id", _("A %(kind)s workload with reference '%(ref)s' already exists.")
                       % {"kind": kind, "ref": ref_id})


def _check_ports(spec, exclude=None):
    """Conflict when another workload's spec already publishes one of this spec's host ports."""
    mine = published_ports(spec.get("ports") if isinstance(spec, dict) else None)
    if not mine:
        return
    others = Workload.objects.exclude(pk=exclude) if exclude else Workload.objects.all()
    for other in others.only("pk", "name", "spec").order_by("pk"):
        theirs = published_ports((other.spec or {}).get("ports") if isinstance(
            other.spec, dict) else None)
        port = ports_clash(mine, theirs)
        if port is not None:
            raise Conflict("spec.ports", _(
                "Port %(port)s is already published by workload '%(name)s' (#%(id)s)."
            ) % {"port": port, "name": other.name, "id": other.pk})


def _check_domains(spec, exclude=None):
    """Conflict when another workload (or TinyForge's own public URL) already uses one of this
    spec's domains: one host name routes to one workload."""
    mine = domains_of(spec)
    if not mine:
        return
    taken_by_self = proxy.public_host()
    for index, host in enumerate(mine):
        if host == taken_by_self:
            raise Conflict(f"spec.domains[{index}]", _(
                "The domain %(domain)s is TinyForge's own public address.") % {"domain": host})
    others = Workload.objects.exclude(pk=exclude) if exclude else Workload.objects.all()
    for other in others.only("pk", "name", "spec").order_by("pk"):
        theirs = set(domains_of(other.spec))
        for index, host in enumerate(mine):
            if host in theirs:
                raise Conflict(f"spec.domains[{index}]", _(
                    "The domain %(domain)s is already used by workload '%(name)s' (#%(id)s)."
                ) % {"domain": host, "name": other.name, "id": other.pk})


def _clean_env(items, old, errors):
    """Validate env items; a secret item without a value keeps its stored value."""
    rows, seen = [], set()
    for index, item in enumerate(items):
        key = item.get("key", "")
        if not isinstance(key, str) or not _KEY_RE.fullmatch(key) or key in seen:
            errors[f"env[{index}].key"] = _("Not a valid or unique variable name.")
            continue
        seen.add(key)
        value = item.get("value")
        if value is None and key in old and old[key].secret:
            value = old[key].value
        rows.append(EnvVar(key=key, value="" if value is None else str(value),
                           secret=bool(item.get("secret", False))))
    return rows


def _clean_volumes(items, errors):
    rows = []
    for index, item in enumerate(items):
        name, host_path = item.get("name") or "", item.get("host_path") or ""
        mount = item.get("mount_path") or ""
        if bool(name) == bool(host_path):
            errors[f"volumes[{index}]"] = _("Give either a volume name or a host path.")
        elif name and not NAME_RE.fullmatch(name):
            errors[f"volumes[{index}].name"] = _("Not a valid volume name.")
        elif host_path and not host_path.startswith("/"):
            errors[f"volumes[{index}].host_path"] = _("The host path must be absolute.")
        elif not mount.startswith("/"):
            errors[f"volumes[{index}].mount_path"] = _("The mount path must be absolute.")
        else:
            rows.append(Volume(name=name, host_path=host_path, mount_path=mount,
                               read_only=bool(item.get("read_only", False))))
    return rows


def _keep_engine_names(workload, volume_rows):
    """A named volume that stays in the list keeps the engine volume it had (and its data),
    even when that name was adopted from before engine keys existed."""
    old = {v.name: v.engine_name for v in workload.volumes.exclude(name="")}
    for row in volume_rows:
        if row.name in old:
            row.engine_name = old[row.name]


def _store_children(workload, env_rows, volume_rows):
    for row in env_rows + volume_rows:
        row.workload = workload
        row.save()


def set_chain(workload, follower_ids):
    """Set the workloads deployed after this one; raises InvalidInput for unknown ids or a
    cycle (A -> B -> A would deploy forever)."""
    followers = list(Workload.objects.filter(pk__in=follower_ids))
    if len(followers) != len(set(follower_ids)):
        raise InvalidInput({"chain": _("Unknown workload id in the chain.")})
    for follower in followers:
        if follower.pk == workload.pk or _reaches(follower, workload.pk):
            raise InvalidInput({"chain": _("This chain would form a cycle through '%(name)s'.")
                                % {"name": follower.name}})
    workload.chain.set(followers)


def _reaches(start, target_pk):
    seen, stack = set(), [start.pk]
    while stack:
        pk = stack.pop()
        if pk == target_pk:
            return True
        if pk not in seen:
            seen.add(pk)
            stack.extend(Workload.chain.through.objects.filter(from_workload_id=pk)
                         .values_list("to_workload_id", flat=True))
    return False
