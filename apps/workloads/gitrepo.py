"""A workload's git checkout: cloned once, fetched on later deploys, refs resolved to commits."""
import os
import subprocess

from apps.workloads.engine import EngineError

GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true", "LC_ALL": "C"}


def _git(*args, cwd=None, timeout=300):
    proc = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **GIT_ENV},
    )
    if proc.returncode != 0:
        raise EngineError("build_failed", f"git {args[0]} failed: {proc.stderr.strip()}")
    return proc.stdout.strip()


def fetch(url, dest):
    """Clone ``url`` into ``dest`` the first time, fetch branches and tags afterwards."""
    if not (dest / ".git").exists():
        dest.mkdir(parents=True, exist_ok=True)
        _git("clone", "--quiet", "--no-checkout", url, str(dest))
    else:
        _git("remote", "set-url", "origin", url, cwd=dest)
        _git("fetch", "--quiet", "--force", "--tags", "--prune", "origin", cwd=dest)


def resolve(dest, ref):
    """The commit SHA that branch or tag ``ref`` (or a SHA) points at. Raises EngineError."""
    for candidate in (f"refs/remotes/origin/{ref}", f"refs/tags/{ref}", ref):
        proc = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}"],
            cwd=dest, capture_output=True, text=True, env={**os.environ, **GIT_ENV},
        )
        if proc.returncode == 0:
            return proc.stdout.strip()
    raise EngineError("build_failed", f"git ref {ref!r} not found")


def checkout(dest, commit):
    _git("checkout", "--quiet", "--force", "--detach", commit, cwd=dest)
    _git("clean", "-fdxq", cwd=dest)


def commit_subject(dest, commit):
    return _git("log", "-1", "--format=%s", commit, cwd=dest)


def has_commit(dest, commit):
    if not commit or not (dest / ".git").exists():
        return False
    proc = subprocess.run(["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=dest,
                          capture_output=True, env={**os.environ, **GIT_ENV})
    return proc.returncode == 0
