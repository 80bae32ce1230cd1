"""Compose projects, run through the `docker compose` plugin or docker-compose 1.29 (the CLI:
the SDK has no compose)."""
import os
import shutil
import subprocess

from django.conf import settings

from apps.workloads.engine.errors import EngineDown, EngineError, port_in_use
from apps.workloads.engine.targets import cli_environment, current_target


def _compose_command():
    if shutil.which("docker") and _run_cli(["docker", "compose", "version"]).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    raise EngineError("internal", "neither 'docker compose' nor 'docker-compose' is installed")


def _run_cli(args, cwd=None, timeout=None):
    env = dict(os.environ)
    env.update(cli_environment(current_target()))
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True,
        timeout=timeout or settings.TINYFORGE_DEPLOY_TIMEOUT,
    )


def compose(project, compose_file, *args):
    """Run a compose subcommand for ``project``; returns its combined output.

    Raises EngineError: "auth_failed" or "pull_failed" when images cannot be fetched,
    "start_failed" otherwise, "engine_down" when the engine does not answer.
    """
    command = _compose_command() + ["-p", project, "-f", str(compose_file), *args]
    try:
        proc = _run_cli(command, cwd=str(compose_file.parent))
    except OSError as exc:
        raise EngineError("internal", str(exc)) from exc
    output = (proc.stdout + proc.stderr).strip()
    if proc.returncode == 0:
        return output
    lowered = output.lower()
    if "unauthorized" in lowered or "authentication required" in lowered:
        raise EngineError("auth_failed", output)
    if "manifest unknown" in lowered or "pull access denied" in lowered or "not found" in lowered:
        raise EngineError("pull_failed", output)
    if "connection refused" in lowered or "cannot connect to the docker daemon" in lowered:
        raise EngineDown(output)
    port = port_in_use(output)
    raise EngineError("start_failed", output, {"port": port} if port is not None else {})
