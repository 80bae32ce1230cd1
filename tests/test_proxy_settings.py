"""The proxy and public-URL settings: checked at startup with a message naming the variable;
an https TINYFORGE_PUBLIC_URL makes `manage.py check --deploy` clean; the default stays plain
HTTP on the loopback address."""
import json
import os
import secrets
import subprocess
import sys

import pytest
from django.conf import settings

from tinyforge import proxy_settings
from tinyforge.proxy_settings import BadSetting

ROOT = settings.BASE_DIR

SHOW = ("import json; from django.conf import settings as s; print(json.dumps({k: getattr(s, k) "
        "for k in ['ALLOWED_HOSTS', 'CSRF_TRUSTED_ORIGINS', 'SESSION_COOKIE_SECURE', "
        "'CSRF_COOKIE_SECURE', 'SECURE_SSL_REDIRECT', 'SECURE_HSTS_SECONDS', "
        "'SECURE_PROXY_SSL_HEADER', 'TINYFORGE_PROXY_ADMIN', 'TINYFORGE_PROXY_HTTP', "
        "'TINYFORGE_PROXY_HTTPS', 'TINYFORGE_PUBLIC_URL', 'TINYFORGE_TRUSTED_PROXIES']}))")


def manage(tmp_path, *args, **env):
    clean = {key: value for key, value in os.environ.items()
             if not key.startswith(("TINYFORGE_", "DJANGO_", "DATABASE_URL"))}
    clean.update({"DJANGO_SETTINGS_MODULE": "tinyforge.settings",
                  "TINYFORGE_DATA_DIR": str(tmp_path)}, **env)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=clean,
                          capture_output=True, text=True, timeout=120)


def shown(tmp_path, **env):
    done = manage(tmp_path, "shell", "-c", SHOW, **env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


PUBLIC = {"TINYFORGE_PUBLIC_URL": "https://tinyforge.example.test",
          "TINYFORGE_PROXY_HTTPS": "127.0.0.1:8443"}


def test_check_deploy_reports_nothing_behind_an_https_public_url(tmp_path):
    done = manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING",
                  TINYFORGE_SECRET_KEY=secrets.token_urlsafe(50), **PUBLIC)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues (0 silenced)." in done.stdout


def test_check_deploy_still_warns_in_the_default_plain_http_mode(tmp_path):
    done = manage(tmp_path, "check", "--deploy",
                  TINYFORGE_SECRET_KEY=secrets.token_urlsafe(50))
    assert "security.W012" in done.stderr + done.stdout  # session cookie not secure


def test_the_default_stays_plain_http_on_the_loopback_address(tmp_path):
    values = shown(tmp_path)
    assert values == {
        "ALLOWED_HOSTS": ["127.0.0.1", "localhost"],
        "CSRF_TRUSTED_ORIGINS": [],
        "SESSION_COOKIE_SECURE": False,
        "CSRF_COOKIE_SECURE": False,
        "SECURE_SSL_REDIRECT": False,
        "SECURE_HSTS_SECONDS": 0,
        "SECURE_PROXY_SSL_HEADER": None,
        "TINYFORGE_PROXY_ADMIN": "http://127.0.0.1:2019",
        "TINYFORGE_PROXY_HTTP": "127.0.0.1:8080",
        "TINYFORGE_PROXY_HTTPS": "",
        "TINYFORGE_PUBLIC_URL": "",
        "TINYFORGE_TRUSTED_PROXIES": ["127.0.0.1", "::1"],
    }


def test_an_https_public_url_secures_cookies_hsts_hosts_and_origins(tmp_path):
    values = shown(tmp_path, TINYFORGE_PUBLIC_URL="https://TinyForge.example.test:8443/",
                   TINYFORGE_PROXY_HTTPS=":8443", TINYFORGE_ALLOWED_HOSTS="127.0.0.1")
    assert values["ALLOWED_HOSTS"] == ["127.0.0.1", "tinyforge.example.test"]
    assert values["CSRF_TRUSTED_ORIGINS"] == ["https://tinyforge.example.test:8443"]
    assert values["TINYFORGE_PUBLIC_URL"] == "https://tinyforge.example.test:8443"
    assert values["SESSION_COOKIE_SECURE"] and values["CSRF_COOKIE_SECURE"]
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SECURE_HSTS_SECONDS"] == proxy_settings.DEFAULT_HSTS_SECONDS
    # The scheme comes from gunicorn, which believes the header from trusted peers only.
    assert values["SECURE_PROXY_SSL_HEADER"] is None


def test_a_plain_http_public_url_adds_the_host_but_no_secure_settings(tmp_path):
    values = shown(tmp_path, TINYFORGE_PUBLIC_URL="http://tinyforge.lan")
    assert "tinyforge.lan" in values["ALLOWED_HOSTS"]
    assert values["SESSION_COOKIE_SECURE"] is False and values["SECURE_HSTS_SECONDS"] == 0


@pytest.mark.parametrize("name, value", [
    ("TINYFORGE_PROXY_ADMIN", "127.0.0.1:2019"),
    ("TINYFORGE_PROXY_ADMIN", "http://127.0.0.1"),
    ("TINYFORGE_PROXY_HTTP", "8080"),
    ("TINYFORGE_PROXY_HTTP", "127.0.0.1:99999"),
    ("TINYFORGE_PROXY_HTTPS", "bad host:443"),
    ("TINYFORGE_PUBLIC_URL", "tinyforge.example.test"),
    ("TINYFORGE_PUBLIC_URL", "https://tinyforge.example.test/admin/"),
    ("TINYFORGE_PUBLIC_URL", "https://bad_host"),
    ("TINYFORGE_ACME_EMAIL", "not-an-email"),
])
def test_a_bad_value_stops_every_command_with_one_line_naming_the_variable(
    tmp_path, name, value
):
    done = manage(tmp_path, "check", **{name: value})
    assert done.returncode == 1
    assert done.stderr.strip() == done.stderr.strip().splitlines()[0], "not one line"
    assert done.stderr.startswith(f"TinyForge cannot start: {name}={value!r}: ")
    assert "Traceback" not in done.stderr


def test_an_https_public_url_without_an_https_listener_is_refused():
    with pytest.raises(BadSetting, match="TINYFORGE_PROXY_HTTPS is empty"):
        proxy_settings.check_combination("https://tinyforge.example.test", "")
    proxy_settings.check_combination("http://tinyforge.example.test", "")


@pytest.mark.parametrize("value", ["127.0.0.1:8080", ":443", "[::1]:8443", "proxy.lan:80"])
def test_listen_addresses_of_every_form_are_accepted(value):
    assert proxy_settings.listen_address("TINYFORGE_PROXY_HTTP", value) == value
