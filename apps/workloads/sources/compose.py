"""The compose source: a compose file run by `docker compose` or docker-compose 1.29."""
import posixpath
import re

import yaml
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop
from pydantic import Field

from apps.workloads import engine, proxy
from apps.workloads.engine import EngineError
from apps.workloads.host_access import HostAccess, host_path_access
from apps.workloads.proxy import ProxyError, Route
from apps.workloads.references import split_reference
from apps.workloads.sources import runner
from apps.workloads.sources.base import (
    LABEL_PREFIX,
    Pinned,
    Source,
    SpecError,
    selector_labels,
)
from apps.workloads.sources.image import image_available
from apps.workloads.sources.options import SpecModel
from apps.workloads.sources.runner import routed_services
from apps.workloads.workdirs import content_hash, workdir, write_if_changed

FIELDS = {"compose", "project", "routes", "drain_seconds", "stop_grace_seconds"}
ROUTE_FIELDS = {"service", "domains", "http_port"}
COMPOSE_FILE = "docker-compose.yml"
# A routed compose workload runs in two projects taken in turn, "<project>-blue" and
# "<project>-green": the new colour starts beside the serving one, the routes move, the old
# colour drains and stops.
COLOURS = ("blue", "green")
PROXY_NETWORK_KEY = "tinyforge_proxy"
COMPOSE_PROJECT = "com.docker.compose.project"


class ComposeRoute(SpecModel):
    service: str = Field(title=gettext_noop("Service"))
    domains: list[str] = Field(title=gettext_noop("Domains"))
    http_port: int = Field(ge=1, le=65535, title=gettext_noop("HTTP port"))


class ComposeSpec(SpecModel):
    compose: str = Field(title=gettext_noop("Compose file"), description=gettext_noop(
        "The compose file's YAML. Build sections and host-level options are refused."),
        json_schema_extra={"x-form": "text"})
    project: str | None = Field(None, title=gettext_noop("Project name"), description=(
        gettext_noop("Empty: a name TinyForge derives from the workload's id.")))
    routes: list[ComposeRoute] | None = Field(None, title=gettext_noop("Routes"), description=(
        gettext_noop("JSON: [{\"service\": \"web\", \"domains\": [\"shop.example.test\"], "
                     "\"http_port\": 8080}]. With routes, a deploy starts the new services "
                     "beside the running ones and switches without a gap; no service may "
                     "publish host ports then.")),
        json_schema_extra={"x-form": "json"})
    drain_seconds: float | None = Field(None, ge=0, le=300, title=gettext_noop("Drain time"),
                                        description=gettext_noop(
                                            "Seconds the previous containers keep serving "
                                            "requests in flight after a swap."))
    stop_grace_seconds: float | None = Field(
        None, ge=0, le=300, title=gettext_noop("Stop grace"),
        description=gettext_noop("Seconds a container gets to stop before it is killed."))


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
        cleaned = dict(spec)
        if "routes" in spec and "compose" not in errors:
            routes = _clean_routes(spec["routes"], yaml.safe_load(text), errors)
            if routes is not None:
                cleaned["routes"] = routes
        runner.clean_routing_times(spec, errors)
        if errors:
            raise SpecError(errors)
        return cleaned

    def project(self, workload, spec):
        """The spec's project, else the workload's engine key (instance + id, or the project
        it already had before engine keys existed): installs sharing an engine never collide."""
        return sanitize_project_name(spec.get("project") or workload.engine_key)

    def deploy(self, ctx):
        text = ctx.pinned["compose"] if ctx.pinned else ctx.spec["compose"]
        services = ctx.pinned.get("services", {}) if ctx.pinned else {}
        if routed_services(ctx.spec):
            return self._deploy_beside(ctx, text, services)
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
        self._down_colours(ctx.workload, project)  # routes were removed from the spec
        return Pinned(ref=content_hash(text), detail={
            "compose": text, "hash": content_hash(text), "project": project,
            "services": self._running_images(ctx.workload),
        })

    # --- routed: blue/green ----------------------------------------------------------------

    def _deploy_beside(self, ctx, text, services):
        """Start the other colour's project beside the serving one, wait until each routed
        service answers, move every route to it, then hand the previous containers to
        ``ctx.retire`` (drain, stop). A failure before the routes moved takes the new colour
        down (volumes kept) and leaves the serving one as it was."""
        workload, spec = ctx.workload, ctx.spec
        project = self.project(workload, spec)
        try:
            proxy.ensure_server()  # no proxy, no swap: fail before anything is touched
        except ProxyError as exc:
            raise EngineError("proxy_failed", exc.message) from None
        engine.ensure_network(runner.proxy_network(), runner.proxy_network_labels())
        old = [c for c in self.reconcile(workload) if c.state != "removing"]
        colour = self._next_colour(workload, project, old)
        target = f"{project}-{colour}"
        if self._foreign_containers(workload, target):
            raise EngineError("start_failed", f"compose project {target} already runs "
                                              "containers of another workload or install")
        labels = {**selector_labels(workload), LABEL_PREFIX + "deploy": str(ctx.deploy_id)}
        rendered = render(text, labels, services, routes=routed_services(spec),
                          volume_project=project, proxy_network=runner.proxy_network())
        path = workdir(workload) / f"docker-compose.{colour}.yml"
        write_if_changed(path, rendered)
        ctx.log(_("Starting project %(project)s beside the serving one.") % {
            "project": target})
        if any(c.labels.get(COMPOSE_PROJECT) == target for c in old):
            engine.compose(target, path, "down", "--remove-orphans")  # an earlier try's rest
        # The phases of a swap, as single containers record them: recovery keeps the new
        # colour once it passed its checks (its containers carry this deploy's label) and
        # otherwise removes it, the previous colour never having stopped.
        ctx.mark("creating", old=[c.id for c in old],
                 was_running=[c.id for c in old if c.state == "running"])
        routes, previous = [], {}
        try:
            for line in engine.compose(target, path, "up", "-d", "--remove-orphans"
                                       ).splitlines():
                ctx.log(line)
            started = {c.labels.get(LABEL_PREFIX + "service"): c
                       for c in self.reconcile(workload) if c.labels.get(COMPOSE_PROJECT) == target}
            pinned = Pinned(ref=content_hash(text), detail={
                "compose": text, "hash": content_hash(text), "project": project,
                "colour": colour, "services": self._running_images(workload, target)})
            ctx.resolved(pinned)  # what recovery keeps, should it keep the new colour
            ctx.mark("started")
            for service, hosts, port in routed_services(spec):
                container = started.get(service)
                if container is None:
                    raise EngineError("start_failed", f"service {service} did not start")
                dial = runner.await_ready(container.id, port, ctx.log)
                routes.append(Route(workload.pk, hosts, dial, service))
            ctx.mark("checked")
            for route in routes:
                previous[route.service] = proxy.current_upstream(workload.pk, route.service)
                proxy.publish(route)
        except (EngineError, ProxyError) as exc:
            if getattr(exc, "code", "") == "engine_down":
                raise  # recovery decides from the phase once the engine answers again
            self._undo(ctx, target, path, previous)
            ctx.mark("rolled_back")
            if isinstance(exc, ProxyError):
                raise EngineError("proxy_failed", exc.message) from None
            raise
        ctx.mark("routed")
        proxy.withdraw(workload.pk, keep={route.key for route in routes})
        for route in routes:
            ctx.log(_("Traffic for %(hosts)s now goes to service %(service)s (%(dial)s).") % {
                "hosts": ", ".join(route.hosts), "service": route.service, "dial": route.dial})
        retiring = [c.id for c in old if c.labels.get(COMPOSE_PROJECT) != target]
        if retiring:
            drain = spec.get("drain_seconds", runner.DRAIN_DEFAULT_S)
            grace = spec.get("stop_grace_seconds", runner.STOP_GRACE_DEFAULT_S)
            ctx.log(_("Previous containers drain for %(drain)ss, then stop (grace %(grace)ss).")
                    % {"drain": drain, "grace": grace})
            if ctx.retire is not None:
                ctx.retire(retiring, drain, grace)
            else:
                runner.retire_containers(retiring, drain, grace)
        return pinned

    def _next_colour(self, workload, project, old):
        """The colour not serving now: the one the routes do not point at (a deploy that
        died half-way may have left both colours running)."""
        serving = set()
        dials = {route.dial for route in proxy.routes_now().values()
                 if route.workload_id == workload.pk}
        for container in old:
            if runner.container_dial(container) in dials:
                serving.add(container.labels.get(COMPOSE_PROJECT))
        if f"{project}-blue" in serving:
            return "green"
        if serving:
            return "blue"
        running = {c.labels.get(COMPOSE_PROJECT) for c in old if c.state == "running"}
        return "green" if f"{project}-blue" in running else "blue"

    def _undo(self, ctx, target, path, previous):
        hosts = {service: hosts for service, hosts, _port in routed_services(ctx.spec)}
        for service, dial in previous.items():
            try:
                if dial:  # a route already moved goes back where it was
                    proxy.publish(Route(ctx.workload.pk, hosts[service], dial, service))
            except ProxyError as exc:
                ctx.log(_("Could not put the route back (%(error)s); the reconcile pass will.")
                        % {"error": exc.message})
        try:
            # Volumes are kept. The new colour never served: its stop grace is the workload's.
            grace = ctx.spec.get("stop_grace_seconds", runner.STOP_GRACE_DEFAULT_S)
            engine.compose(target, path, "down", "--remove-orphans", "--timeout",
                           str(int(grace)))
        except EngineError as exc:
            ctx.log(_("Could not take project %(project)s down (%(error)s).") % {
                "project": target, "error": exc.message[:300]})
        ctx.log(_("The routes stay on the previous containers, which kept running."))

    def _running_images(self, workload, project=None):
        """Per service: the image reference, image id and registry digest it runs now (of
        ``project`` only, when given: a routed workload runs two while it switches)."""
        pinned = {}
        for container in self.reconcile(workload):
            if project and container.labels.get(COMPOSE_PROJECT) != project:
                continue
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
        project = self.project(workload, workload.spec)
        self._down_colours(workload, project)
        path = workdir(workload) / COMPOSE_FILE
        if path.exists() and not self._foreign_containers(workload, project):
            args = ["down", "--remove-orphans"] + (["--volumes"] if volumes else [])
            engine.compose(project, path, *args)
        # What compose could not (file gone) or must not (project shared) take down: our own
        # containers, found by the selector labels.
        for container in engine.list_containers(selector_labels(workload)):
            engine.remove_container(container.id)

    def _down_colours(self, workload, project):
        """Take down what a routed deploy ran in the colour projects (volumes kept: they are
        the base project's, shared by name)."""
        for colour in COLOURS:
            path = workdir(workload) / f"docker-compose.{colour}.yml"
            target = f"{project}-{colour}"
            if path.exists() and not self._foreign_containers(workload, target):
                engine.compose(target, path, "down", "--remove-orphans")
                path.unlink()  # the next deploy without routes need not look again

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


def render(text, labels, pinned_services=None, routes=(), volume_project=None,
           proxy_network=None):
    """The compose file as run: TinyForge labels on every service, images pinned when replaying.

    For a routed workload (``routes``: [(service, hosts, port)]) each routed service also joins
    ``proxy_network`` and carries the port the proxy dials, and every named volume is given
    the name compose gives it in ``volume_project`` (the base project), so both colours and
    the deploys from before the workload had routes use the same data."""
    data = yaml.safe_load(text)
    ports = {service: port for service, _hosts, port in routes}
    for name, service in data["services"].items():
        service["labels"] = {
            **_labels_as_dict(service.get("labels")),
            **labels,
            LABEL_PREFIX + "service": str(name),
        }
        pin = (pinned_services or {}).get(name)
        if pin and pin.get("image"):
            service["image"] = pin["image"]
        if name in ports:
            service["labels"][LABEL_PREFIX + "http-port"] = str(ports[name])
            service["networks"] = _with_network(service.get("networks"), PROXY_NETWORK_KEY)
    if ports:
        # The colour projects' networks carry the workload's labels, so that whatever is left
        # of a colour can be found and swept like its containers.
        networks = {"default": {}, **(data.get("networks") or {})}
        for key, network in networks.items():
            network = network if isinstance(network, dict) else {}
            if not network.get("external"):
                networks[key] = {**network, "labels": {
                    **_labels_as_dict(network.get("labels")), **_selector_only(labels)}}
        data["networks"] = {**networks,
                            PROXY_NETWORK_KEY: {"external": True, "name": proxy_network}}
    if routes and volume_project:
        volumes = data.get("volumes") or {}
        for key, volume in list(volumes.items()):
            volume = volume if isinstance(volume, dict) else {}
            if not volume.get("external") and not volume.get("name"):
                volumes[key] = {**volume, "name": f"{volume_project}_{key}"}
        if volumes:
            data["volumes"] = volumes
    return yaml.safe_dump(data, sort_keys=True)


def _selector_only(labels):
    return {key: value for key, value in labels.items()
            if key in (LABEL_PREFIX + "instance", LABEL_PREFIX + "workload")}


def _with_network(networks, key):
    """A service's ``networks`` with ``key`` added (its default network kept when it named
    none)."""
    if isinstance(networks, dict):
        return {**networks, key: None}
    return list(networks or ["default"]) + [key]


def _clean_routes(routes, data, errors):
    """The cleaned ``routes`` of a compose spec, or None with messages under ``routes[i]``.
    Routed services start beside the running ones, so nothing in the file may hold a fixed
    host port or container name while there are routes."""
    if not isinstance(routes, list):
        errors["routes"] = _("Must be a list.")
        return None
    services = data.get("services") or {}
    cleaned, seen_services, seen_hosts = [], set(), set()
    for index, route in enumerate(routes):
        field = f"routes[{index}]"
        if not isinstance(route, dict):
            errors[field] = _("Must be an object.")
            continue
        for key in route:
            if key not in ROUTE_FIELDS:
                errors[f"{field}.{key}"] = _("Unknown field.")
        service = route.get("service")
        if not isinstance(service, str) or service not in services:
            errors[f"{field}.service"] = _("Name a service of the compose file.")
        elif service in seen_services:
            errors[f"{field}.service"] = _("This service is routed twice.")
        elif isinstance(services[service], dict) and services[service].get("network_mode"):
            errors[f"{field}.service"] = _("A routed service cannot set network_mode.")
        seen_services.add(service)
        hosts = runner.clean_domains(route.get("domains"), f"{field}.domains", errors,
                                     seen_hosts)
        if hosts == []:
            errors[f"{field}.domains"] = _("Give at least one host name.")
        runner.clean_http_port(route.get("http_port"), True, f"{field}.http_port", errors)
        cleaned.append({**route, "domains": hosts})
    if cleaned:
        for name, service in services.items():
            if not isinstance(service, dict):
                continue
            if service.get("ports"):
                errors[f"compose.services.{name}.ports"] = _(
                    "With routes, services run twice during a deploy: no host ports.")
            if service.get("container_name"):
                errors[f"compose.services.{name}.container_name"] = _(
                    "With routes, services run twice during a deploy: no container_name.")
    return cleaned


def _labels_as_dict(labels):
    if isinstance(labels, dict):
        return {str(k): str(v) for k, v in labels.items()}
    result = {}
    for item in labels or []:
        key, _sep, value = str(item).partition("=")
        result[key] = value
    return result

