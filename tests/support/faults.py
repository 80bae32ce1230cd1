"""Fault-injection helpers: a control plane run in child processes (so it can be SIGKILLed),
a ``socat`` proxy in front of the Docker socket (so the engine connection can be cut), and a
throttled TCP proxy in front of a registry (so a pull can be caught half-way).

The control plane uses its own SQLite file and data directory (pytest-django's test database
lives in memory, out of a child's reach) and its own ``tinyforge.instance`` label.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
POLL_INTERVAL_S = 0.05


class ControlPlane:
    """``manage.py`` in child processes against a throwaway database and data directory."""

    def __init__(self, root: Path, instance: str):
        self.root = Path(root)
        self.instance = instance
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tinyforge.settings_test",
            "TINYFORGE_DATA_DIR": str(self.root),
            "DATABASE_URL": f"sqlite:///{self.root}/control.sqlite3",
            "TINYFORGE_INSTANCE": instance,
            "TINYFORGE_SECRET_KEY": "fault-injection-tests-only",
        }
        self.env.pop("DOCKER_HOST", None)

    def _command(self, args):
        return [sys.executable, str(REPO / "manage.py"), *[str(a) for a in args]]

    def manage(self, *args, env=None, check=True, timeout=300):
        proc = subprocess.run(self._command(args), cwd=REPO, env={**self.env, **(env or {})},
                              capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"manage.py {' '.join(map(str, args))} exited "
                                 f"{proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def start(self, *args, env=None, output=subprocess.PIPE):
        """``manage.py ARGS`` in the background; returns the Popen."""
        return subprocess.Popen(self._command(args), cwd=REPO, env={**self.env, **(env or {})},
                                stdout=output, stderr=output, text=True)

    def query(self, code: str, env=None):
        """Run ``code`` in ``manage.py shell``; it must print one JSON document."""
        out = self.manage("shell", "-c", code, env=env).stdout
        return json.loads(out.strip().splitlines()[-1])

    def create_workload(self, name, spec, kind="image"):
        self.query(
            "import json\nfrom apps.workloads.actions import create_workload\n"
            f"w = create_workload(name={name!r}, kind={kind!r}, spec={spec!r})\n"
            "print(json.dumps(w.pk))"
        )

    def ledger(self, name):
        """The workload's deploys, its running entry, its events and its containers."""
        return self.query(
            "import json\n"
            "from apps.deploys.ledger import current_deploy\n"
            "from apps.workloads.models import Workload\n"
            f"w = Workload.objects.get(name={name!r})\n"
            "current = current_deploy(w)\n"
            "print(json.dumps({\n"
            "  'deploys': {d.pk: {'status': d.status, 'restored': d.restored, 'phase': d.phase,\n"
            "              'error_code': d.error_code, 'log': d.log}\n"
            "              for d in w.deploys.order_by('pk')},\n"
            "  'current': current.pk if current else None,\n"
            "  'events': [[e.kind, e.message] for e in w.events.order_by('id')],\n"
            "  'containers': [[c.deploy_id, c.state] for c in w.containers.all()],\n"
            "}))"
        )


def wait_for_path(path: Path, deadline_s: float = 60, process=None) -> None:
    """Poll until ``path`` exists; fail early when ``process`` (a Popen) has exited."""
    deadline = time.monotonic() + deadline_s
    while not Path(path).exists():
        if process is not None and process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(f"process exited {process.returncode} before {path}:\n"
                                 f"{out}\n{err}")
        if time.monotonic() >= deadline:
            raise AssertionError(f"{path} did not appear within {deadline_s}s")
        time.sleep(POLL_INTERVAL_S)


class SocatDockerProxy:
    """``socat`` relaying a unix socket to the Docker socket; ``cut()`` kills it and every
    forked connection (its whole process group), as a lost engine connection would."""

    def __init__(self, path: Path, target: str = "/var/run/docker.sock"):
        self.path = Path(path)
        self.target = target
        self.process = None

    @property
    def docker_host(self) -> str:
        return f"unix://{self.path}"

    def start(self, deadline_s: float = 10) -> SocatDockerProxy:
        self.process = subprocess.Popen(
            ["socat", f"UNIX-LISTEN:{self.path},fork,unlink-early",
             f"UNIX-CONNECT:{self.target}"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        wait_for_path(self.path, deadline_s, self.process)
        return self

    def cut(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()


class ThrottledProxy:
    """A TCP relay on 127.0.0.1 whose answers flow at ``rate`` bytes/s while ``throttled``;
    ``downstream`` counts the bytes relayed to clients, ``stop()`` closes everything."""

    def __init__(self, upstream_port: int, rate: int = 512 * 1024):
        self.upstream_port = upstream_port
        self.rate = rate
        self.throttled = False
        self.downstream = 0
        self.stopped = threading.Event()
        self._sockets = []
        self._lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _accept(self):
        while not self.stopped.is_set():
            try:
                client, _addr = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream, False),
                             daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, True),
                             daemon=True).start()

    def _pipe(self, source, sink, down):
        try:
            while not self.stopped.is_set():
                chunk = source.recv(16384 if not (down and self.throttled) else 8192)
                if not chunk:
                    break
                sink.sendall(chunk)
                if down:
                    with self._lock:
                        self.downstream += len(chunk)
                    if self.throttled:
                        time.sleep(len(chunk) / self.rate)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stop(self) -> None:
        self.stopped.set()
        self.listener.close()
        with self._lock:
            for sock in self._sockets:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
