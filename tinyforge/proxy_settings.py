"""The proxy and public-URL settings: read from the environment, checked once at startup, and
the secure settings that follow from an https ``TINYFORGE_PUBLIC_URL``.

Plain functions of their inputs (no Django import beyond the exception), so ``settings.py``
stays a list of knobs and the rules are unit-tested. Messages are plain English on purpose:
they are raised while settings load, before translations can be.
"""
import ipaddress
import re
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# A year: what browsers' preload lists ask for.
DEFAULT_HSTS_SECONDS = 31536000


class BadSetting(ImproperlyConfigured):
    """A TINYFORGE_* value that cannot work; ``manage.py`` prints it as one line."""


def _fail(name, value, expected):
    raise BadSetting(f"{name}={value!r}: {expected}")


def valid_host(host):
    """A DNS name (letters, digits, hyphens; dot-separated) or an IP address."""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    host = host.lower().rstrip(".")
    return 0 < len(host) <= 253 and all(HOST_LABEL.match(label) for label in host.split("."))


def _port(text):
    return text.isdigit() and 0 < int(text) < 65536


def listen_address(name, value, required=True):
    """``host:port``, ``:port`` (every interface) or ``[v6]:port``; "" allowed unless
    ``required``. Returns the value unchanged."""
    if not value and not required:
        return ""
    host, sep, port = value.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not _port(port) or (host and not valid_host(host)):
        _fail(name, value, "expected host:port (e.g. 127.0.0.1:8080) or :port")
    return value


def admin_endpoint(name, value):
    """Caddy's admin endpoint: ``http://host:port``."""
    parts = urlsplit(value)
    try:
        port = parts.port
    except ValueError:
        port = None
    if (parts.scheme != "http" or not parts.hostname or not valid_host(parts.hostname)
            or not port or parts.path not in ("", "/") or parts.query or parts.username):
        _fail(name, value, "expected Caddy's admin endpoint as http://host:port "
                           "(e.g. http://127.0.0.1:2019)")
    return value.rstrip("/")


def public_url(name, value):
    """"" or ``http(s)://host[:port]`` with no path. Returns (url without a trailing slash,
    host, origin) — all "" when unset."""
    if not value:
        return "", "", ""
    parts = urlsplit(value)
    try:
        parts.port  # noqa: B018 — raises ValueError for a bad port
    except ValueError:
        _fail(name, value, "the port is not a number between 1 and 65535")
    if (parts.scheme not in ("http", "https") or not parts.hostname
            or not valid_host(parts.hostname) or parts.path not in ("", "/") or parts.query
            or parts.fragment or parts.username or parts.password):
        _fail(name, value, "expected https://host[:port] (no path), e.g. "
                           "https://tinyforge.example.test")
    origin = f"{parts.scheme}://{parts.netloc.lower()}"
    return origin, parts.hostname.lower(), origin


def acme_email(name, value):
    if value and not EMAIL.match(value):
        _fail(name, value, "expected an email address (the ACME account contact)")
    return value


def check_combination(public, https_listen):
    """TLS for TinyForge's own URL needs Caddy's HTTPS listener."""
    if public.startswith("https://") and not https_listen:
        raise BadSetting(
            f"TINYFORGE_PUBLIC_URL={public!r} is https but TINYFORGE_PROXY_HTTPS is empty: set "
            "the address Caddy serves TLS on (e.g. :443, or 127.0.0.1:8443 behind a port "
            "forward)")


def secure_settings(public, hsts_seconds=DEFAULT_HSTS_SECONDS):
    """The Django settings an https public URL implies ({} for none or plain http).

    The forwarded scheme is not read by Django (``SECURE_PROXY_SSL_HEADER`` stays None):
    gunicorn passes an ``X-Forwarded-Proto`` header through from any client, so Django would
    believe whoever sent it. gunicorn itself sets the request's scheme from that header only
    for peers in ``--forwarded-allow-ips`` (``TINYFORGE_TRUSTED_PROXIES``, which ``serve``
    passes), and Django takes the scheme from there.
    """
    if not public.startswith("https://"):
        return {}
    return {
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_SSL_REDIRECT": True,
        # Prometheus scrapes /metrics on the loopback address, over plain HTTP.
        "SECURE_REDIRECT_EXEMPT": [r"^metrics$"],
        "SECURE_HSTS_SECONDS": hsts_seconds,
        # Workloads under the same name get TLS from the same Caddy.
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        # Only consent: a name enters browsers' preload lists when its owner submits it.
        "SECURE_HSTS_PRELOAD": True,
    }
