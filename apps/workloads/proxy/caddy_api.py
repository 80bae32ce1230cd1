"""The HTTP client for Caddy's JSON admin API (``TINYFORGE_PROXY_ADMIN``): one function per
verb, bounded by a timeout, every failure turned into ``ProxyError`` with a code.

Stdlib only (urllib): the admin API is a handful of small JSON requests.
"""
import contextlib
import contextvars
import json
import urllib.error
import urllib.parse
import urllib.request

from django.conf import settings

TIMEOUT_S = 5

# ProxyError codes: "proxy_down" (nothing answers at the admin endpoint, or it timed out),
# "not_found" (no such path or @id), "refused" (Caddy rejected the change; its config is as it
# was, since Caddy applies a change entirely or not at all).
PROXY_CODES = ("proxy_down", "not_found", "refused")


class ProxyError(Exception):
    """A call to Caddy's admin API failed; ``code`` is one of ``PROXY_CODES``."""

    def __init__(self, code, message):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


_admin = contextvars.ContextVar("tinyforge_proxy_admin", default="")


def admin_url():
    """The Caddy admin endpoint calls in this context go to: the one a host names
    (``using_admin``), else ``TINYFORGE_PROXY_ADMIN``."""
    return (_admin.get() or settings.TINYFORGE_PROXY_ADMIN).rstrip("/")


@contextlib.contextmanager
def using_admin(url):
    """Send the block's Caddy calls to ``url`` ("" keeps the default): the Caddy of the host
    a workload runs on."""
    token = _admin.set(url or "")
    try:
        yield
    finally:
        _admin.reset(token)


def call(method, path, body=None, timeout=TIMEOUT_S):
    """``method`` ``path`` (e.g. "/config/apps/http") with a JSON ``body``; returns the parsed
    JSON answer (None when empty). Raises ProxyError."""
    url = admin_url() + path
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Content-Type": "application/json",
        # Caddy checks Origin/Host of admin requests against its listen address.
        "Origin": admin_url(),
    })
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
    except urllib.error.HTTPError as exc:
        text = exc.read().decode("utf-8", "replace")[:500]
        if exc.code == 404 or "unknown object ID" in text or "invalid traversal" in text:
            raise ProxyError("not_found", f"{method} {path}: {text}") from None
        raise ProxyError("refused", f"{method} {path}: HTTP {exc.code} {text}") from None
    except (TimeoutError, OSError) as exc:  # URLError is an OSError
        raise ProxyError("proxy_down", f"{method} {urllib.parse.urlsplit(url).netloc}: {exc}") \
            from None
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise ProxyError("refused", f"{method} {path}: not JSON") from None


def get(path):
    """The config at ``path``; None when it (or a parent) does not exist."""
    try:
        return call("GET", path)
    except ProxyError as exc:
        if exc.code == "not_found":
            return None
        raise


def put(path, body):
    return call("PUT", path, body)


def post(path, body):
    return call("POST", path, body)


def patch(path, body):
    return call("PATCH", path, body)


def delete(path):
    return call("DELETE", path)


def answers():
    """True when Caddy's admin endpoint answers; never raises."""
    try:
        get("/config/")
        return True
    except ProxyError:
        return False
