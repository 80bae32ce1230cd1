"""TinyForge settings: every knob reads the environment first.

TINYFORGE_* variables, DATABASE_URL and DOCKER_HOST.
"""
import os
from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _

from tinyforge import proxy_settings

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name, default=""):
    return os.environ.get(name, default)


def env_int(name, default):
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


def env_float(name, default):
    raw = os.environ.get(name)
    return float(raw) if raw not in (None, "") else default


def env_bool(name, default=False):
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    return raw.strip().lower() in ("1", "true", "yes", "on")


def env_list(name, default=()):
    raw = os.environ.get(name)
    if raw in (None, ""):
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


DATA_DIR = Path(env_str("TINYFORGE_DATA_DIR", str(BASE_DIR / "var")))
DATA_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = env_str("TINYFORGE_SECRET_KEY", "")
if not SECRET_KEY:
    # A stable per-install key: secrets encrypted at rest must survive restarts.
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists():
        import secrets as _secrets

        key_file.write_text(_secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    SECRET_KEY = key_file.read_text().strip()

DEBUG = env_bool("TINYFORGE_DEBUG", False)
ALLOWED_HOSTS = env_list("TINYFORGE_ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("TINYFORGE_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "modeltranslation",  # must precede django.contrib.admin
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "ninja",
    "django_q",
    "apps.core",
    "apps.workloads",
    "apps.deploys",
    "apps.metrics",
    "apps.notifications",
]

# The model behind API bearer tokens, named like AUTH_USER_MODEL so apps.core imports no app.
TINYFORGE_API_TOKEN_MODEL = "workloads.ApiToken"

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "tinyforge.urls"
WSGI_APPLICATION = "tinyforge.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "tinyforge" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database: SQLite in WAL mode by default, PostgreSQL via DATABASE_URL ---
SQLITE_OPTIONS = {
    "timeout": 20,
    "transaction_mode": "IMMEDIATE",
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
}
DATABASE_URL = env_str("DATABASE_URL", "")
if DATABASE_URL:
    # Connections are kept for a minute; a kept connection the server dropped meanwhile (a
    # PostgreSQL restart) is noticed when a request starts, instead of failing that request.
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60,
                                                  conn_health_checks=True)}
    if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        DATABASES["default"]["OPTIONS"] = dict(SQLITE_OPTIONS)
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "tinyforge.sqlite3",
            "OPTIONS": dict(SQLITE_OPTIONS),
            # Each gunicorn thread keeps its connection instead of opening the file, setting
            # the pragmas and closing it again on every request.
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

# --- i18n ---
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("ru", _("Russian"))]
MODELTRANSLATION_DEFAULT_LANGUAGE = "en"
MODELTRANSLATION_LANGUAGES = ("en", "ru")
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = env_str("TINYFORGE_TIME_ZONE", "UTC")
USE_TZ = True

# --- Static files ---
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- Docker engine ---
DOCKER_HOST = env_str("DOCKER_HOST", "")  # empty: the SDK's default (local socket)
TINYFORGE_DOCKER_TIMEOUT = env_int("TINYFORGE_DOCKER_TIMEOUT", 120)
# Seconds one call to a remote host's engine may take (pulls and builds stream within it), and
# how long a host check waits for an answer before it counts as failed.
TINYFORGE_HOST_TIMEOUT = env_int("TINYFORGE_HOST_TIMEOUT", 120)
TINYFORGE_HOST_CHECK_TIMEOUT = env_int("TINYFORGE_HOST_CHECK_TIMEOUT", 5)
# Labels tell this install's objects apart from another install's on the same host.
TINYFORGE_INSTANCE = env_str("TINYFORGE_INSTANCE", "default")

# --- Deploys ---
TINYFORGE_WORK_DIR = Path(env_str("TINYFORGE_WORK_DIR", str(DATA_DIR / "work")))
TINYFORGE_DEPLOY_TIMEOUT = env_int("TINYFORGE_DEPLOY_TIMEOUT", 900)
# How long a freshly started container must stay up before the deploy counts it as started.
TINYFORGE_START_GRACE = env_float("TINYFORGE_START_GRACE", 1.5)
# Ledger entries kept per workload (the entry of what runs now is always kept).
TINYFORGE_HISTORY_LIMIT = max(1, env_int("TINYFORGE_HISTORY_LIMIT", 30))
# Rollback targets per workload whose images cleanup_images never removes.
TINYFORGE_KEEP_ROLLBACK_IMAGES = max(1, env_int("TINYFORGE_KEEP_ROLLBACK_IMAGES", 5))
# Snapshot a workload's volumes before each deploy (a workload may override it).
TINYFORGE_AUTO_BACKUP = env_bool("TINYFORGE_AUTO_BACKUP", False)
TINYFORGE_BACKUP_DIR = Path(env_str("TINYFORGE_BACKUP_DIR", str(DATA_DIR / "backups")))
TINYFORGE_BACKUPS_KEEP = max(1, env_int("TINYFORGE_BACKUPS_KEEP", 5))
# After a deploy goes live, how long an auto-rollback workload is watched for health.
TINYFORGE_HEALTH_GRACE = env_int("TINYFORGE_HEALTH_GRACE", 60)

# --- Notifications (apps.notifications): channels live in the admin; mail uses Django's own
# settings, read here from the environment.
TINYFORGE_NOTIFY_TIMEOUT = env_float("TINYFORGE_NOTIFY_TIMEOUT", 5.0)
EMAIL_HOST = env_str("TINYFORGE_EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("TINYFORGE_EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("TINYFORGE_EMAIL_USER", "")
EMAIL_HOST_PASSWORD = env_str("TINYFORGE_EMAIL_PASSWORD", "")
EMAIL_USE_TLS = env_bool("TINYFORGE_EMAIL_TLS", False)
EMAIL_TIMEOUT = env_int("TINYFORGE_EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env_str("TINYFORGE_EMAIL_FROM", "tinyforge@localhost")

# --- Host access policy (apps/workloads/host_access.py) ---
# Host directories any staff user may bind-mount from (comma-separated absolute paths).
TINYFORGE_HOST_PATHS = env_list("TINYFORGE_HOST_PATHS", [])
# Docker socket, other host paths, privileged mode, host namespaces, capabilities, devices:
# refused unless this is on, and then for superusers only.
TINYFORGE_ALLOW_HOST_ACCESS = env_bool("TINYFORGE_ALLOW_HOST_ACCESS", False)

# --- Reverse proxy: Caddy, driven through its admin API (apps/workloads/proxy) ---
# Checked here, so a bad value stops every command at once with a message naming it.
TINYFORGE_PROXY_ADMIN = proxy_settings.admin_endpoint(
    "TINYFORGE_PROXY_ADMIN", env_str("TINYFORGE_PROXY_ADMIN", "http://127.0.0.1:2019"))
# Where Caddy serves workloads with domains (plain HTTP), and optionally with TLS.
TINYFORGE_PROXY_HTTP = proxy_settings.listen_address(
    "TINYFORGE_PROXY_HTTP", env_str("TINYFORGE_PROXY_HTTP", "127.0.0.1:8080"))
TINYFORGE_PROXY_HTTPS = proxy_settings.listen_address(
    "TINYFORGE_PROXY_HTTPS", env_str("TINYFORGE_PROXY_HTTPS", ""), required=False)
# TinyForge's own public URL (e.g. https://tinyforge.example.test): admin and API behind Caddy.
TINYFORGE_PUBLIC_URL, _public_host, _public_origin = proxy_settings.public_url(
    "TINYFORGE_PUBLIC_URL", env_str("TINYFORGE_PUBLIC_URL", ""))
# The Caddy storage TinyForge may repair (a certificate cut off by a crash mid-write): the
# embedded Caddy's, unless an operator points it at the storage of a Caddy they run.
TINYFORGE_PROXY_STORAGE = Path(env_str("TINYFORGE_PROXY_STORAGE", str(DATA_DIR / "caddy")))
# Set: public (non-local) domains get ACME certificates with this contact email.
TINYFORGE_ACME_EMAIL = proxy_settings.acme_email(
    "TINYFORGE_ACME_EMAIL", env_str("TINYFORGE_ACME_EMAIL", ""))
proxy_settings.check_combination(TINYFORGE_PUBLIC_URL, TINYFORGE_PROXY_HTTPS)
# Peers whose X-Forwarded-Proto gunicorn believes (`serve` passes --forwarded-allow-ips): the
# proxy's address as gunicorn sees it. Caddy on this host dials from the loopback address.
TINYFORGE_TRUSTED_PROXIES = env_list("TINYFORGE_TRUSTED_PROXIES", ["127.0.0.1", "::1"])
if _public_host:
    ALLOWED_HOSTS = [*ALLOWED_HOSTS, _public_host]
    CSRF_TRUSTED_ORIGINS = [*CSRF_TRUSTED_ORIGINS, _public_origin]
# An https public URL: secure cookies, HSTS, redirect to https (see proxy_settings).
globals().update(proxy_settings.secure_settings(
    TINYFORGE_PUBLIC_URL,
    env_int("TINYFORGE_HSTS_SECONDS", proxy_settings.DEFAULT_HSTS_SECONDS)))
# How long a new container of a routed workload may take to answer before the deploy fails.
TINYFORGE_PROXY_READY_TIMEOUT = env_float("TINYFORGE_PROXY_READY_TIMEOUT", 60)

# --- django-q2 (ORM broker: no extra service on a laptop) ---
Q_CLUSTER = {
    "name": "tinyforge",
    "orm": "default",
    "workers": env_int("TINYFORGE_WORKERS", 2),
    "timeout": TINYFORGE_DEPLOY_TIMEOUT,
    "retry": TINYFORGE_DEPLOY_TIMEOUT + 60,
    "max_attempts": 1,
    "catch_up": False,
    "save_limit": 500,
    "poll": 0.5,
    "label": "Django Q2",
}

# --- Metrics ---
# Seconds between samples of every running container and of the host (at least 5).
TINYFORGE_STATS_INTERVAL = max(5, env_int("TINYFORGE_STATS_INTERVAL", 15))
# auto: cgroup files when the engine is local and they are readable, else the stats API.
TINYFORGE_STATS_READER = env_str("TINYFORGE_STATS_READER", "auto")  # auto | cgroup | api
# Stats API calls in flight at once (each waits for the daemon's 1-second collector tick).
TINYFORGE_STATS_API_CONCURRENCY = env_int("TINYFORGE_STATS_API_CONCURRENCY", 320)
TINYFORGE_STATS_CGROUP_ROOT = env_str("TINYFORGE_STATS_CGROUP_ROOT", "/sys/fs/cgroup")
TINYFORGE_STATS_PROC_ROOT = env_str("TINYFORGE_STATS_PROC_ROOT", "/proc")
TINYFORGE_STATS_RAW_HOURS = env_int("TINYFORGE_STATS_RAW_HOURS", 24)
TINYFORGE_STATS_MINUTE_DAYS = env_int("TINYFORGE_STATS_MINUTE_DAYS", 7)
TINYFORGE_STATS_HOUR_DAYS = env_int("TINYFORGE_STATS_HOUR_DAYS", 90)
# Rows one prune batch may delete; each batch is its own short transaction.
TINYFORGE_STATS_PRUNE_BATCH = env_int("TINYFORGE_STATS_PRUNE_BATCH", 20000)
# Clients allowed to read /metrics without a staff token (IPs or CIDRs, comma-separated).
TINYFORGE_METRICS_ALLOW = env_list("TINYFORGE_METRICS_ALLOW", [])

LOGIN_URL = "admin:login"

# Errors with a traceback (an unhandled exception in a view, a 500) reach the console too, with
# every known secret masked (tinyforge.log_masking).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Hook URLs carry their token: redacted from every line (see apps.deploys.hook_redaction).
    "filters": {"mask_secrets": {"()": "tinyforge.log_masking.MaskSecrets"},
                "hook_tokens": {"()": "apps.deploys.hook_redaction.RedactHookTokens"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain",
                             "filters": ["hook_tokens", "mask_secrets"]}},
    "loggers": {
        "tinyforge": {"handlers": ["console"], "level": env_str("TINYFORGE_LOG_LEVEL", "INFO")},
        "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
    },
}
