"""A private Caddy for the proxy tests: ``caddy run`` on free 127.0.0.1 ports, its storage (and
so its internal CA) under a temporary directory, stopped and restarted on demand.

Driven from the outside (the ``caddy`` binary and plain HTTP to its admin listener), the way an
operator's Caddy would be; nothing here imports the proxy package under test.
"""
from __future__ import annotations

import http.client
import json
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.support.dockerlab import free_port

POLL_INTERVAL_S = 0.05


def caddy_binary():
    return shutil.which("caddy") or "/usr/bin/caddy"


class Caddy:
    """One ``caddy run`` process. ``admin`` is the admin endpoint URL; ``http`` and ``https`` are
    the listener addresses TinyForge is told to serve workloads on."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.admin_port = free_port()
        self.http_port = free_port()
        self.https_port = free_port()
        self.process = None
        self.log_path = self.root / "caddy.log"

    @property
    def admin(self):
        return f"http://127.0.0.1:{self.admin_port}"

    @property
    def http(self):
        return f"127.0.0.1:{self.http_port}"

    @property
    def https(self):
        return f"127.0.0.1:{self.https_port}"

    @property
    def storage(self):
        return self.root / "storage"

    def ca_root_cert(self) -> Path:
        """The internal CA's root certificate Caddy writes under its storage."""
        return self.storage / "pki" / "authorities" / "local" / "root.crt"

    def start(self, deadline_s: float = 20) -> Caddy:
        """Start with an empty config (admin listener, storage, no trust-store install), wait
        until the admin endpoint answers."""
        config = {
            "admin": {"listen": f"127.0.0.1:{self.admin_port}"},
            "storage": {"module": "file_system", "root": str(self.storage)},
            # Never touch the machine's trust store from a test.
            "apps": {"pki": {"certificate_authorities": {"local": {"install_trust": False}}}},
        }
        path = self.root / "init.json"
        path.write_text(json.dumps(config))
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [caddy_binary(), "run", "--config", str(path)],
                cwd=self.root, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env={"HOME": str(self.root), "XDG_DATA_HOME": str(self.root / "data"),
                     "XDG_CONFIG_HOME": str(self.root / "config"), "PATH": "/usr/bin:/bin"},
            )
        deadline = time.monotonic() + deadline_s
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"caddy exited early:\n{self.log_text()}")
            try:
                self.get_config()
                return self
            except OSError:
                pass
            if time.monotonic() >= deadline:
                self.stop()
                raise RuntimeError(f"caddy not ready in {deadline_s}s:\n{self.log_text()}")
            time.sleep(POLL_INTERVAL_S)

    def get_config(self, path=""):
        """The running config (or a part of it) as parsed JSON; None when the path does not
        exist."""
        try:
            with urllib.request.urlopen(f"{self.admin}/config/{path}", timeout=5) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            if exc.code in (400, 404):
                return None
            raise

    def config_text(self) -> str:
        with urllib.request.urlopen(f"{self.admin}/config/", timeout=5) as response:
            return response.read().decode()

    def kill(self):
        """SIGKILL, as a crash would: nothing is saved on the way out."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def wait_for_certificates(self, hosts, deadline_s: float = 20) -> bool:
        """True once the internal CA's certificate of every host is fully stored (its metadata
        JSON parses): killing Caddy while it writes one leaves a file it refuses to load."""
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            stored = []
            for host in hosts:
                meta = next(iter(self.storage.glob(f"certificates/*/{host}/{host}.json")), None)
                try:
                    stored.append(meta is not None and bool(json.loads(meta.read_text())))
                except (OSError, ValueError):
                    stored.append(False)
            if all(stored):
                return True
            time.sleep(0.1)
        return False

    def restart_empty(self) -> Caddy:
        """Kill and start again with the initial (empty) config, same ports and storage."""
        self.kill()
        return self.start()

    def stop(self):
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


def remove_owned(lab: Caddy, prefix: str):
    """Delete the server blocks and TLS policies whose name or @id starts with ``prefix``."""
    def call(method, path):
        request = urllib.request.Request(lab.admin + path, method=method)
        try:
            urllib.request.urlopen(request, timeout=5).read()
        except urllib.error.HTTPError:
            pass

    for name in (lab.get_config("apps/http/servers") or {}):
        if name.startswith(prefix):
            call("DELETE", f"/config/apps/http/servers/{name}")
    for policy in (lab.get_config("apps/tls/automation/policies") or []):
        if str(policy.get("@id", "")).startswith(prefix):
            call("DELETE", f"/id/{policy['@id']}")


def get_via(lab: Caddy, host: str, path: str = "/", timeout: float = 3):
    """GET through the proxy's plain HTTP listener with a Host header; (status, body).
    Connection failures raise OSError."""
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", lab.http_port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"Host": host})
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        connection.close()


class TextServer:
    """A tiny HTTP upstream on 127.0.0.1 answering every GET with ``text`` (a thread)."""

    def __init__(self, text: str):
        import http.server
        import threading

        body = text.encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the stdlib's name
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def dial(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def wait_via(lab: Caddy, host: str, expect: str, deadline_s: float = 10) -> str:
    """Poll through the proxy until a 2xx answer for ``host`` contains ``expect``."""
    deadline = time.monotonic() + deadline_s
    last = "no attempt"
    while True:
        try:
            status, body = get_via(lab, host)
            if 200 <= status < 300 and expect in body:
                return body
            last = f"HTTP {status}: {body[:200]!r}"
        except OSError as exc:
            last = f"{type(exc).__name__}: {exc}"
        if time.monotonic() >= deadline:
            raise AssertionError(f"{host} did not serve {expect!r} in {deadline_s}s; {last}")
        time.sleep(POLL_INTERVAL_S)


def wait_via_https(lab: Caddy, host: str, deadline_s: float = 20):
    """GET https://host/ through the proxy's TLS listener (SNI = host), verified against the
    internal CA's root in Caddy's storage; (status, body, issuer common name). Polls while the
    certificate is being issued."""
    import http.client
    import ssl

    deadline = time.monotonic() + deadline_s
    last = "no attempt"
    while True:
        try:
            context = ssl.create_default_context(cafile=str(lab.ca_root_cert()))
            connection = http.client.HTTPSConnection(lab.https.split(":")[0], lab.https_port,
                                                     timeout=3, context=context)
            # SNI and Host are the routed name; the TCP connection goes to 127.0.0.1.
            connection.sock = context.wrap_socket(
                __import__("socket").create_connection(("127.0.0.1", lab.https_port), 3),
                server_hostname=host)
            connection.request("GET", "/", headers={"Host": host})
            response = connection.getresponse()
            issuer = dict(x[0] for x in connection.sock.getpeercert()["issuer"])
            result = response.status, response.read().decode(), issuer.get("commonName", "")
            connection.close()
            return result
        except (OSError, ssl.SSLError) as exc:
            last = f"{type(exc).__name__}: {exc}"
        if time.monotonic() >= deadline:
            raise AssertionError(f"https {host} did not answer in {deadline_s}s; {last}")
        time.sleep(0.2)


class Poller:
    """Requests the domain through the proxy in a loop (own thread) and counts what fails.

    Like a browser with an idempotent GET, it sends a request again once when the connection
    was reset or closed before any byte of an answer came back: Caddy 2.6 listens with
    SO_REUSEPORT and opens a new socket on every config change, so a connection still queued
    on the outgoing socket is reset (measured: about one per two config changes under a
    connect-per-request load). Those are counted in ``resent``; anything else -- a 502, a
    wrong page, a second reset -- is a failure."""

    def __init__(self, caddy, host):
        self.caddy, self.host = caddy, host
        self.ok = 0
        self.resent = 0
        self.failures = []
        self.bodies = set()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stopping.is_set():
            try:
                status, body = self.get()
            except OSError as exc:
                self.failures.append(repr(exc))
                continue
            if status == 200 and "tinyforge test version" in body:
                self.ok += 1
                self.bodies.add(body.split("[")[0].strip())
            else:
                self.failures.append(f"HTTP {status}: {body[:80]!r}")

    def get(self):
        try:
            return get_via(self.caddy, self.host)
        except (ConnectionResetError, http.client.RemoteDisconnected):
            self.resent += 1
            return get_via(self.caddy, self.host)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.thread.join(10)
