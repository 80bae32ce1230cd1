"""A webhook receiver for notification tests: http.server on 127.0.0.1 in a thread.

It records each POST (path, headers with lower-case names, raw body, parsed JSON) and whether the
X-TinyForge-Signature-256 header is the HMAC-SHA256 of the raw body under ``secret``; it
answers ``status`` (200 unless a test wants the receiver to fail).
"""
import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Delivery:
    path: str
    headers: dict
    body: bytes
    signature_ok: bool

    @property
    def json(self):
        return json.loads(self.body)


class Receiver:
    def __init__(self, secret="", status=200):
        self.secret = secret
        self.status = status
        self.deliveries = []
        self._server = None

    @property
    def url(self):
        host, port = self._server.server_address
        return f"http://{host}:{port}/hooks/T000/B000/token-in-the-url"

    def start(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                expected = "sha256=" + hmac.new(receiver.secret.encode(), body,
                                                hashlib.sha256).hexdigest()
                given = self.headers.get("X-TinyForge-Signature-256", "")
                receiver.deliveries.append(Delivery(
                    self.path, {k.lower(): v for k, v in self.headers.items()}, body,
                    bool(receiver.secret) and hmac.compare_digest(expected, given)))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):  # keep the test output clean
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self._server.shutdown()
        self._server.server_close()

    def wait_for(self, count, timeout=10):
        """The deliveries once there are ``count`` (polled with a deadline)."""
        deadline = time.monotonic() + timeout
        while len(self.deliveries) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.deliveries)
