"""The Source contract: how a kind of workload is validated, deployed, torn down and observed.

Sources never query the database: whoever calls them (``apps.deploys.dispatch`` for a deploy,
the cleanup and reconcile passes for the rest) resolves what they need from the models
(registry credentials, mounts, the environment with its secret values) and hands it over.
"""
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from apps.workloads.sources.options import typed_errors

LABEL_PREFIX = "tinyforge."


class SpecError(Exception):
    """A spec is invalid. ``errors`` maps a field path ("image", "ports[0]") to a message."""

    def __init__(self, errors):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


# Registry host ("127.0.0.1:5000", "ghcr.io") -> {"username", "password"} for the engine.
RegistryAuth = Mapping[str, dict]


def auth_for(registry_auth, registry):
    """The engine's auth_config for ``registry`` from a RegistryAuth mapping, or None."""
    return registry_auth.get(registry) if registry_auth is not None else None


@dataclass(frozen=True)
class Mount:
    """A workload volume as the container gets it: ``source`` is the engine volume's name
    (``volume`` true: created and labelled on first use) or a host path."""

    source: str
    target: str
    read_only: bool = False
    volume: bool = False


@dataclass
class DeployContext:
    """What a source needs to carry out one deploy, resolved by ``dispatch`` beforehand.

    ``env`` is the workload's environment with secret values decrypted; ``mounts`` its volumes;
    ``registry_auth`` the credentials per registry host (use ``auth_for``). ``labels`` must be
    put on everything the source creates. ``log`` appends a line to the deploy log (it masks
    every known secret value itself, so a source never needs the list). ``pinned`` is set when
    a deploy replays an earlier artifact (rollback, promotion): the source must deploy exactly
    that and resolve nothing anew.
    ``mark(phase, **facts)`` records how far a container swap got (see
    ``runner.replace_container``) and ``resolved(pinned)`` what is about to run, before it runs:
    the deploy's owner stores both as they happen, so a crash mid-swap can be undone.
    ``retire`` takes the previous containers of a start-first swap (see ``runner``).
    """

    workload: Any
    deploy_id: int
    spec: dict
    env: dict
    labels: dict
    log: Callable[[str], None]
    pinned: dict | None = None
    mark: Callable[..., None] = lambda phase, **facts: None
    resolved: Callable[["Pinned"], None] = lambda pinned: None
    mounts: list[Mount] = field(default_factory=list)
    registry_auth: RegistryAuth = field(default_factory=dict)
    # retire(container_ids, drain_seconds, stop_grace_seconds): the previous containers of a
    # swap behind the proxy, to drain and stop once the deploy is recorded. None: the source
    # does it itself before returning.
    retire: Callable[[list, float, float], None] | None = None

    def auth_for(self, registry):
        return auth_for(self.registry_auth, registry)


@dataclass
class Pinned:
    """What a deploy ran, exactly: ``ref`` is the short human form (a digest, an image id, a
    commit); ``detail`` holds everything needed to run the same artifact again."""

    ref: str
    detail: dict = field(default_factory=dict)


def selector_labels(workload):
    """The labels that find a workload's engine objects: this install and the workload's id.
    Never the name, which a rename changes."""
    return {
        LABEL_PREFIX + "instance": settings.TINYFORGE_INSTANCE,
        LABEL_PREFIX + "workload": str(workload.pk),
    }


def workload_labels(workload, deploy_id=None):
    """Labels to put on what a workload creates: the selector labels, and the name as
    information for people reading ``docker ps`` (it goes stale after a rename)."""
    labels = {
        **selector_labels(workload),
        LABEL_PREFIX + "workload-name": workload.name,
    }
    if deploy_id is not None:
        labels[LABEL_PREFIX + "deploy"] = str(deploy_id)
    return labels


class Source:
    """Base class for a workload kind.

    No method queries the database: what a method needs beyond the workload's own fields comes
    as an argument. Kinds that run one container derive from ``single.SingleContainerSource``.

    Subclasses set ``kind`` (the registry key), ``label`` (shown to users), ``schema_sample``
    (a minimal valid spec shown in the docs and the admin) and ``spec_model`` (the spec as a
    typed schema, a ``sources.options.SpecModel``: it validates, documents the API's ``spec``
    and builds the admin form), and implement:

    - ``validate(spec) -> dict``: the cleaned spec with defaults filled in. Raises ``SpecError``
      naming each bad field. Must not touch the engine or the database. Callers use ``clean``,
      which adds what ``spec_model`` refuses to the errors ``validate`` found.
    - ``deploy(ctx) -> Pinned``: runs the workload so that it replaces what ran before. Everything
      it needs from the database comes in ``ctx`` (``DeployContext``). On failure it raises
      ``EngineError`` (a code from ``engine.CODES``) and leaves the previous version running.
    - ``teardown(workload) -> None``: removes everything the source created for the workload
      (named volumes are kept). Raises ``EngineError`` when the engine cannot do it.
    - ``reconcile(workload) -> list[ContainerInfo]``: the workload's containers as the engine sees
      them now, for the container index. Raises ``EngineError``.
    - ``available(workload, pinned, registry_auth) -> bool``: whether a deploy's pinned artifact
      can run again (present locally, pullable by digest with ``registry_auth``, or
      rebuildable). Never raises.
    - ``artifact_images(pinned) -> set[str]``: the local image ids a pinned artifact uses, so
      image cleanup can keep rollback targets.
    - ``host_access(spec) -> list[HostAccess]``: what a valid spec asks of the host (socket, host
      paths, privileges, host namespaces, capabilities, devices), for the policy in
      apps.workloads.host_access. Field paths are relative to the spec. Never raises.
    """

    kind = ""
    label = ""
    schema_sample: dict = {}
    spec_model = None

    def validate(self, spec):
        raise NotImplementedError

    def clean(self, spec):
        """The cleaned spec; raises ``SpecError`` with every bad field, checked by the kind's
        own rules and by its typed schema. Where both object to a field, the kind's message
        (the more precise one) is kept."""
        errors = {}
        try:
            cleaned = self.validate(spec)
        except SpecError as exc:
            errors.update(exc.errors)
        if self.spec_model is not None and isinstance(spec, dict):
            for path, message in typed_errors(self.spec_model, spec).items():
                covered = any(path == key or path.startswith((key + ".", key + "["))
                              or key.startswith((path + ".", path + "[")) for key in errors)
                if not covered:
                    errors[path] = message
        if errors:
            raise SpecError(errors)
        return cleaned

    def deploy(self, ctx):
        raise NotImplementedError

    def teardown(self, workload):
        raise NotImplementedError

    def reconcile(self, workload):
        raise NotImplementedError

    def available(self, workload, pinned, registry_auth=None):
        return bool(pinned)

    def artifact_images(self, pinned):
        return {pinned["image_id"]} if pinned.get("image_id") else set()

    def host_access(self, spec):
        # Single-container kinds have no option that reaches the host (unknown spec fields are
        # refused); their bind mounts are the workload's volumes, checked by the policy itself.
        return []
