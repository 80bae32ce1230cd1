"""Which engine a call talks to: an ``EngineTarget`` (how to reach one Docker engine) and the
target of the current context.

Every function of this package talks to the *current* target; callers that work on a host
other than the local one wrap their work in ``using(target)``. A context variable (not a
global) carries it, so threads and tasks working on different hosts at once never see each
other's target, and code that knows nothing of hosts keeps talking to the local engine.

Credentials (TLS client key, SSH private key) live only in the target object, never in its
repr, and on disk only in a private directory this process creates when a transport needs a
file (the docker SDK's TLS and the compose CLI read files).
"""
import contextlib
import contextvars
import hashlib
import os
import tempfile
from dataclasses import dataclass, field

from django.conf import settings


@dataclass(frozen=True)
class EngineTarget:
    """How to reach one Docker engine.

    ``url``: "" (the local engine as configured by DOCKER_HOST, else the SDK's default socket),
    ``unix:///path``, ``tcp://host:2376`` (with TLS client certificates in ``tls_*`` PEM text)
    or ``ssh://user@host[:port]`` (with ``ssh_key``, a PEM/OpenSSH private key).
    ``name`` names the host in errors and logs; it is not part of the connection.
    """

    name: str = "local"
    url: str = ""
    tls_ca: str = field(default="", repr=False)
    tls_cert: str = field(default="", repr=False)
    tls_key: str = field(default="", repr=False)
    ssh_key: str = field(default="", repr=False)
    # Seconds a single engine call may take before it fails (None: the project's default).
    timeout: int | None = None

    @property
    def effective_url(self):
        return self.url or settings.DOCKER_HOST or ""

    @property
    def scheme(self):
        url = self.effective_url
        return url.split("://", 1)[0] if "://" in url else "unix"

    @property
    def is_local(self):
        """True when the engine runs on this machine (a unix socket), so its cgroups and
        volume mountpoints are readable here."""
        return self.scheme == "unix"

    @property
    def socket_path(self):
        """The engine's unix socket path, or None when it is reached another way."""
        url = self.effective_url
        if not url:
            return "/var/run/docker.sock"
        return url[len("unix://"):] if url.startswith("unix://") else None

    @property
    def fingerprint(self):
        """A short digest of everything that makes the connection (credentials included), so a
        cached client is never reused after a host's address or certificates changed."""
        digest = hashlib.sha256()
        for part in (self.effective_url, self.tls_ca, self.tls_cert, self.tls_key, self.ssh_key):
            digest.update(part.encode())
            digest.update(b"\0")
        return digest.hexdigest()[:16]


LOCAL = EngineTarget()

_current = contextvars.ContextVar("tinyforge_engine_target", default=None)


def current_target():
    """The target engine calls in this context go to (the local engine unless ``using``)."""
    return _current.get() or LOCAL


@contextlib.contextmanager
def using(target):
    """Send every engine call inside the block to ``target`` (None: the local engine)."""
    token = _current.set(target or LOCAL)
    try:
        yield target or LOCAL
    finally:
        _current.reset(token)


def credentials_dir(target):
    """A private directory (0700) holding ``ca.pem``, ``cert.pem``, ``key.pem`` (0600) for a TLS
    target, the file layout both the docker SDK and the docker CLI (DOCKER_CERT_PATH) read.
    Created once per target fingerprint in this process."""
    base = os.path.join(tempfile.gettempdir(), f"tinyforge-engine-{os.getuid()}")
    os.makedirs(base, mode=0o700, exist_ok=True)
    os.chmod(base, 0o700)
    path = os.path.join(base, target.fingerprint)
    if not os.path.isdir(path):
        os.makedirs(path, mode=0o700, exist_ok=True)
        for filename, text in (("ca.pem", target.tls_ca), ("cert.pem", target.tls_cert),
                               ("key.pem", target.tls_key)):
            file_path = os.path.join(path, filename)
            descriptor = os.open(file_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(text)
    return path


def cli_environment(target):
    """Environment variables that point the docker / compose CLI at ``target``."""
    env = {}
    url = target.effective_url
    if url:
        env["DOCKER_HOST"] = url
    if target.scheme == "tcp" and target.tls_cert:
        env["DOCKER_TLS_VERIFY"] = "1"
        env["DOCKER_CERT_PATH"] = credentials_dir(target)
    if target.scheme == "ssh":
        # The CLI goes through the same tunnel as the host's client (one SSH connection).
        # Imported here: ssh_tunnel imports this module.
        from apps.workloads.engine.ssh_tunnel import local_socket

        env["DOCKER_HOST"] = f"unix://{local_socket(target)}"
    return env
