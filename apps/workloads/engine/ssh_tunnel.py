"""Engines reached over SSH: one ``ssh`` process per host forwards a local unix socket to the
remote engine's socket, and the host's client talks to that local socket.

One process (one SSH connection) per host, whatever the number of engine calls in flight: the
SSH connection multiplexes them. A broken connection only fails that host's calls
(``EngineDown``); the next call starts the tunnel again. The private key is written 0600 into the
process's private credentials directory (``targets.credentials_dir``) and handed to ``ssh -i``;
the host key is accepted on first use and pinned in a per-host ``known_hosts`` file there
(``StrictHostKeyChecking=accept-new``): a host whose key later changes is refused.

``ssh://user@host[:port]`` reaches ``/var/run/docker.sock`` on the host; a path after it
(``ssh://user@host:22/run/user/1000/docker.sock``) names another socket.
"""
import os
import shutil
import subprocess
import threading
import time
from urllib.parse import urlsplit

from apps.workloads.engine.errors import EngineDown
from apps.workloads.engine.targets import credentials_dir

REMOTE_SOCKET = "/var/run/docker.sock"
_tunnels = {}  # target fingerprint -> subprocess.Popen
_lock = threading.Lock()


def _parts(target):
    url = urlsplit(target.effective_url)
    if not url.hostname or not url.username:
        raise EngineDown(f"{target.name}: an SSH engine address is ssh://user@host[:port]")
    return url.username, url.hostname, url.port or 22, url.path or REMOTE_SOCKET


def local_socket(target, connect_timeout=10):
    """The local socket forwarding to ``target``'s engine, the tunnel started if it is not
    running. Raises EngineDown when SSH cannot connect within ``connect_timeout`` seconds."""
    user, host, port, remote = _parts(target)
    directory = credentials_dir(target)
    sock = os.path.join(directory, "docker.sock")
    with _lock:
        proc = _tunnels.get(target.fingerprint)
        if proc is not None and proc.poll() is None and os.path.exists(sock):
            return sock
        if proc is not None and proc.poll() is None:
            proc.kill()
        if shutil.which("ssh") is None:
            raise EngineDown(f"{target.name}: the ssh client is not installed")
        key = os.path.join(directory, "id_key")
        if not os.path.exists(key):
            descriptor = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                text = target.ssh_key
                handle.write(text if text.endswith("\n") else text + "\n")
        if os.path.exists(sock):
            os.unlink(sock)
        command = [
            "ssh", "-N", "-i", key, "-p", str(port), "-l", user,
            "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=accept-new",
            "-o", f"UserKnownHostsFile={os.path.join(directory, 'known_hosts')}",
            "-o", "ExitOnForwardFailure=yes", "-o", f"ConnectTimeout={connect_timeout}",
            # A dead connection is noticed within about 30 s, not at the next TCP timeout.
            "-o", "ServerAliveInterval=10", "-o", "ServerAliveCountMax=3",
            "-o", "StreamLocalBindUnlink=yes",
            "-L", f"{sock}:{remote}", host,
        ]
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, start_new_session=True)
        _tunnels[target.fingerprint] = proc
        deadline = time.monotonic() + connect_timeout + 2
        while time.monotonic() < deadline:
            if os.path.exists(sock):
                return sock
            if proc.poll() is not None:
                # ssh's own words name the host and the reason; no secret is in them.
                reason = (proc.stderr.read() or b"").decode(errors="replace").strip()[-300:]
                raise EngineDown(f"{target.name}: SSH failed: {reason}")
            time.sleep(0.05)
        proc.kill()
        raise EngineDown(f"{target.name}: SSH did not connect within {connect_timeout} s")


def tunnel_pid(target):
    """The pid of ``target``'s ssh process while it runs, else None."""
    proc = _tunnels.get(target.fingerprint)
    return proc.pid if proc is not None and proc.poll() is None else None


def close(target=None):
    """Stop the tunnel of ``target`` (None: every tunnel)."""
    with _lock:
        for fingerprint in list(_tunnels):
            if target is None or fingerprint == target.fingerprint:
                proc = _tunnels.pop(fingerprint)
                if proc.poll() is None:
                    proc.terminate()
                    try:
                        proc.wait(timeout=5)
                    except subprocess.TimeoutExpired:
                        proc.kill()
