"""The compose source: a compose file run by `docker compose` or docker-compose 1.29."""
import posixpath
import re

import yaml
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop
from pydantic import Field

from apps.workloads import engine
from apps.workloads.engine import EngineError
from apps.workloads.host_access import HostAccess, host_path_access
from apps.workloads.references import split_reference
from apps.workloads.sources.base import (
    LABEL_PREFIX,
    Pinned,
    Source,
    SpecError,
    selector_labels,
)
from apps.workloads.sources.image import image_available
from apps.workloads.sources.options import SpecModel
from apps.workloads.workdirs import content_hash, workdir, write_if_changed

FIELDS = {"compose", "project"}
COMPOSE_FILE = "docker-compose.yml"


class ComposeSpec(SpecModel):
    compose: str = Field(title=gettext_noop("Compose file"), description=gettext_noop(
        "The compose file's YAML. Build sections and host-level options are refused."),
        json_schema_extra={"x-form": "text"})
    project: str | None = Field(None, title=gettext_noop("Project name"), description=(
        gettext_noop("Empty: a name TinyForge derives from the workload's id.")))


def sanitize_project_name(text):
    """Compose's rules: lowercase letters, digits, '-', '_', starting with a letter or digit."""
    name = re.sub(r"[^a-z0-9_-]+", "-", (text or "").lower()).strip("-_")
    return name or "tinyforge"


class ComposeSource(Source):
    kind = "compose"
    label = gettext_lazy("Compose file")
    spec_model = ComposeSpec
    schema_sample = {
        "compose": "services:\n  web:\n    image: 127.0.0.1:5000/team/web:live\n"
                   "    ports: ['127.0.0.1:8080:8080']\n  worker:\n"
                   "    image: 127.0.0.1:5000/team/worker:live\n",
        "project": "shop",
    }

    def validate(self, spec):
        if not isinstance(spec, dict):
            raise SpecError({"spec": _("The spec must be a JSON object.")})
        errors = {key: _("Unknown field.") for key in spec if key not in FIELDS}
        text = spec.get("compose")
        if not isinstance(text, str) or not text.strip():
            errors["compose"] = _("This field is required.")
        else:
            errors.update(_validate_compose(text))
        project = spec.get("project")
        if project is not None and not isinstance(project, str):
            errors["project"] = _("Must be a string.")
        if errors:
            raise SpecError(errors)
        return dict(spec)

    def project(self, workload, spec):
        """The spec's project, else the workload's engine key (instance + id, or the project
        it already had before engine keys existed): installs sharing an engine never collide."""
        return sanitize_project_name(spec.get("project") or workload.engine_key)

    def deploy(self, ctx):
        text = ctx.pinned["compose"] if ctx.pinned else ctx.spec["compose"]
        services = ctx.pinned.get("services", {}) if ctx.pinned else {}
        # Selector labels only: a rename must not change the file and recreate the services.
        rendered = render(text, selector_labels(ctx.workload), services)
        path = workdir(ctx.workload) / COMPOSE_FILE
        if write_if_changed(path, rendered):
            ctx.log(_("Wrote %(file)s (%(hash)s).") % {
                "file": COMPOSE_FILE, "hash": content_hash(rendered)[:19]
            })
        project = self.project(ctx.workload, ctx.spec)
        if self._foreign_containers(ctx.workload, project):
            # "up --remove-orphans" would replace or remove what another workload runs.
            raise EngineError("start_failed", f"compose project {project} already runs "
                                              "containers of another workload or install")
        ctx.log(_("Running compose up for project %(project)s.") % {"project": project})
        output = engine.compose(project, path, "up", "-d", "--remove-orphans")
        for line in output.splitlines():
            ctx.log(line)
        return Pinned(ref=content_hash(text), detail={
            "compose": text, "hash": content_hash(text), "project": project,
            "services": self._running_images(ctx.workload),
        })

    def _running_images(self, workload):
        """Per service: the image reference, image id and registry digest it runs now."""
        pinned = {}
        for container in self.reconcile(workload):
            service = container.labels.get(LABEL_PREFIX + "service", container.name)
            try:
                repository = split_reference(container.image).repository
            except ValueError:
                repository = ""
            info = engine.inspect_image(container.image_id)
            digest = info.digest_for(repository) if info and repository else ""
            pinned[service] = {
                "image": f"{repository}@{digest}" if digest else container.image_id,
                "image_id": container.image_id,
                "digest": digest,
            }
        return pinned

    def available(self, workload, pinned, registry_auth=None):
        services = pinned.get("services") or {}
        return bool(pinned.get("compose")) and all(
            image_available(pin, registry_auth) for pin in services.values()
        )

    def artifact_images(self, pinned):
        return {pin["image_id"] for pin in (pinned.get("services") or {}).values()
                if pin.get("image_id")}

    def teardown(self, workload, volumes=False):
        path = workdir(workload) / COMPOSE_FILE
        project = self.project(workload, workload.spec)
        if path.exists() and not self._foreign_containers(workload, project):
            args = ["down", "--remove-orphans"] + (["--volumes"] if volumes else [])
            engine.compose(project, path, *args)
        # What compose could not (file gone) or must not (project shared) take down: our own
        # containers, found by the selector labels.
        for container in engine.list_containers(selector_labels(workload)):
            engine.remove_container(container.id)

    def _foreign_containers(self, workload, project):
        """Containers in ``project`` that belong to another workload or another install (a
        project set in two specs, or one adopted from before engine keys included the id)."""
        ours = selector_labels(workload)
        return [c for c in engine.list_containers({"com.docker.compose.project": project})
                if any(c.labels.get(key) != value for key, value in ours.items())]

    def reconcile(self, workload):
        return engine.list_containers(selector_labels(workload))

    def host_access(self, spec):
        try:
            data = yaml.safe_load(spec.get("compose") or "")
        except yaml.YAMLError:
            return []
        return compose_host_access(data) if isinstance(data, dict) else []


def _validate_compose(text):
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return {"compose": _("Not valid YAML: %(error)s") % {"error": str(exc).splitlines()[0]}}
    if not isinstance(data, dict) or not isinstance(data.get("services"), dict) or not (
        data["services"]
    ):
        return {"compose": _("The compose file defines no services.")}
    errors = {}
    for name, service in data["services"].items():
        if not isinstance(service, dict) or not (service.get("image") or service.get("build")):
            errors[f"compose.services.{name}"] = _("A service needs an image or a build.")
    return errors


# Service options that give a container the host's namespaces when set to "host".
HOST_NAMESPACES = ("network_mode", "pid", "ipc", "uts", "userns_mode", "cgroup")


def compose_host_access(data):
    """What a parsed compose file asks of the host; fields read "compose.services.web.privileged".

    Compose interpolates ${VARIABLES} from TinyForge's own environment, so a value that contains
    "$" could turn into anything: it counts as host access."""
    found = []
    services = data.get("services") if isinstance(data.get("services"), dict) else {}
    for name, service in services.items():
        if isinstance(service, dict):
            found += _service_access(f"compose.services.{name}", service)
    for section in ("configs", "secrets"):
        for name, item in _mapping(data.get(section)).items():
            if isinstance(item, dict) and "file" in item:
                found += _path_access(item["file"], f"compose.{section}.{name}.file")
    for name, volume in _mapping(data.get("volumes")).items():
        options = _mapping(volume.get("driver_opts") if isinstance(volume, dict) else None)
        if "device" in options:
            found += _path_access(options["device"], f"compose.volumes.{name}.driver_opts.device")
    for index, item in enumerate(_listing(data.get("include"))):
        paths = item.get("path") if isinstance(item, dict) else item
        for path in _listing(paths):
            found += _path_access(path, f"compose.include[{index}]")
    for name, network in _mapping(data.get("networks")).items():
        if isinstance(network, dict) and "host" in (network.get("name"), network.get("driver")):
            found.append(HostAccess(("network", "host"), f"compose.networks.{name}",
                                    _("the host network")))
    return found


def _service_access(field, service):
    found = []
    privileged = service.get("privileged")
    if privileged not in (None, False, "false"):
        found.append(HostAccess(("privileged", field), f"{field}.privileged",
                                _("privileged mode")))
    for option in HOST_NAMESPACES:
        value = service.get(option)
        if value == "host" or _interpolated(value):
            found.append(HostAccess((option, field), f"{field}.{option}",
                                    _("the host's %(namespace)s namespace") % {
                                        "namespace": option.split("_")[0]}))
    for option, what in (("cap_add", _("added capabilities")), ("devices", _("host devices")),
                         ("device_cgroup_rules", _("host devices"))):
        if service.get(option):
            found.append(HostAccess((option, field), f"{field}.{option}", what))
    for index, opt in enumerate(_listing(service.get("security_opt"))):
        if any(word in str(opt) for word in ("unconfined", "disable", "$")):
            found.append(HostAccess(("security_opt", field, str(opt)),
                                    f"{field}.security_opt[{index}]",
                                    _("a security option that turns confinement off")))
    for index, volume in enumerate(_listing(service.get("volumes"))):
        found += _path_access(_bind_source(volume), f"{field}.volumes[{index}]")
    build = service.get("build")
    context = build.get("context") if isinstance(build, dict) else build
    if isinstance(context, str) and "://" not in context and not context.startswith("git@"):
        found += _path_access(context, f"{field}.build")
    env_files = service.get("env_file")
    for index, item in enumerate(_listing(env_files)):
        found += _path_access(item.get("path") if isinstance(item, dict) else item,
                              f"{field}.env_file[{index}]")
    extends = service.get("extends")
    if isinstance(extends, dict) and "file" in extends:
        found += _path_access(extends["file"], f"{field}.extends.file")
    return found


def _bind_source(volume):
    """The host side of a service volume, or None for a named or anonymous volume."""
    if isinstance(volume, dict):
        if volume.get("type", "volume") != "bind":
            return None
        return volume.get("source", "")
    if not isinstance(volume, str):
        return None
    source, sep, _rest = volume.partition(":")
    if not sep:
        return None  # an anonymous volume: just a container path
    return source if source.startswith(("/", ".", "~", "$")) else None


def _path_access(path, field):
    """Host access of a path in the compose file; relative paths that stay inside the
    workload's work directory (where the file is written) need none."""
    if path is None:
        return []
    path = str(path)
    if _interpolated(path) or path.startswith("~"):
        return [HostAccess(("path", path), field, _("the host path %(path)s") % {
            "path": path[:200]})]
    if not path.startswith("/"):
        inside = posixpath.normpath(posixpath.join("/workdir", path))
        if inside == "/workdir" or inside.startswith("/workdir/"):
            return []
        return [HostAccess(("path", path), field, _("the host path %(path)s") % {
            "path": path[:200]})]
    access = host_path_access(path, field)
    return [access] if access else []


def _interpolated(value):
    return isinstance(value, str) and "$" in value.replace("$$", "")


def _mapping(value):
    return value if isinstance(value, dict) else {}


def _listing(value):
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def render(text, labels, pinned_services=None):
    """The compose file as run: TinyForge labels on every service, images pinned when replaying."""
    data = yaml.safe_load(text)
    for name, service in data["services"].items():
        service["labels"] = {
            **_labels_as_dict(service.get("labels")),
            **labels,
            LABEL_PREFIX + "service": str(name),
        }
        pin = (pinned_services or {}).get(name)
        if pin and pin.get("image"):
            service["image"] = pin["image"]
    return yaml.safe_dump(data, sort_keys=True)


def _labels_as_dict(labels):
    if isinstance(labels, dict):
        return {str(k): str(v) for k, v in labels.items()}
    result = {}
    for item in labels or []:
        key, _sep, value = str(item).partition("=")
        result[key] = value
    return result

