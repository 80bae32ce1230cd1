"""Health checks of a running container: an HTTP probe or a command, with retries."""
import time
import urllib.error
import urllib.request

from django.utils.translation import gettext as _

from apps.workloads import engine
from apps.workloads.engine import EngineError

DEFAULTS = {"interval": 2, "timeout": 2, "retries": 10}


def validate_healthcheck(spec, errors):
    """Clean ``spec["healthcheck"]`` and ``spec["auto_rollback"]`` in place."""
    check = spec.get("healthcheck")
    if not isinstance(spec.setdefault("auto_rollback", False), bool):
        errors["auto_rollback"] = _("Must be true or false.")
    if check is None:
        return
    if not isinstance(check, dict) or ("http" in check) == ("command" in check):
        errors["healthcheck"] = _("Give either an http probe or a command.")
        return
    http = check.get("http")
    if http is not None and not (
        isinstance(http, dict) and isinstance(http.get("port"), int)
        and 1 <= http["port"] <= 65535 and str(http.get("path", "/")).startswith("/")
    ):
        errors["healthcheck.http"] = _("Give {\"path\": \"/health\", \"port\": 8080}.")
    command = check.get("command")
    if command is not None and not (
        isinstance(command, list) and command and all(isinstance(p, str) for p in command)
    ):
        errors["healthcheck.command"] = _("Give the command as a list of strings.")
    for key, default in DEFAULTS.items():
        value = check.setdefault(key, default)
        if not isinstance(value, (int, float)) or not 0 < value <= 3600:
            errors[f"healthcheck.{key}"] = _("Must be a positive number.")


def probe(container_id, check, address=None):
    """One probe: True when healthy. Never raises for an unhealthy container. ``address``: an
    IP of the container the host can reach (HTTP probes go there)."""
    try:
        if "command" in check:
            return engine.exec_in(container_id, check["command"], check["timeout"]) == 0
        return _probe_http(container_id, check["http"], check["timeout"], address)
    except EngineError:
        return False


def answers_http(address, port, path="/", timeout=2):
    """True when http://address:port/path answers with a status below 500 (a 404 is an
    answer: the server is up). Never raises."""
    try:
        with urllib.request.urlopen(f"http://{address}:{port}{path}", timeout=timeout):
            return True
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _probe_http(container_id, http, timeout, address=None):
    path = http.get("path", "/")
    if address:
        # The container's IP on the proxy network: the host reaches it directly.
        try:
            with urllib.request.urlopen(f"http://{address}:{http['port']}{path}",
                                        timeout=timeout) as response:
                return 200 <= response.status < 400
        except (urllib.error.URLError, OSError, ValueError):
            return False
    host_port = engine.published_port(container_id, http["port"])
    if host_port is None:
        # Not published: ask from inside the container (busybox/alpine images carry wget).
        # No "-T": Debian's static busybox wget crashes with it.
        command = ["wget", "-q", "-O", "/dev/null", f"http://127.0.0.1:{http['port']}{path}"]
        return engine.exec_in(container_id, command, timeout) == 0
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{host_port}{path}",
                                    timeout=timeout) as response:
            return 200 <= response.status < 400
    except (urllib.error.URLError, OSError, ValueError):
        return False


def await_healthy(container_id, check, log, address=None):
    """Probe until healthy or ``retries`` probes failed; raises EngineError("health_failed")."""
    for attempt in range(1, int(check["retries"]) + 1):
        if probe(container_id, check, address):
            log(_("Health check passed (attempt %(n)s).") % {"n": attempt})
            return
        if attempt < check["retries"]:
            time.sleep(check["interval"])
    raise EngineError("health_failed", f"unhealthy after {check['retries']} probes")


def watch(container_id, check, seconds):
    """Keep probing for ``seconds``; False as soon as ``retries`` probes in a row fail."""
    deadline = time.monotonic() + seconds
    failures = 0
    while time.monotonic() < deadline:
        failures = 0 if probe(container_id, check) else failures + 1
        if failures >= check["retries"]:
            return False
        time.sleep(check["interval"])
    return True
