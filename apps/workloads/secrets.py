"""Secrets at rest and in text.

Values are encrypted with a Fernet key derived from SECRET_KEY, so a database dump alone reveals
nothing. ``mask`` replaces every known secret value in free text before it reaches a log line, the
deploy log or the event log.
"""
import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.db import models

MASK = "••••••"
_PREFIX = "enc:"


def _fernet():
    digest = hashlib.sha256(("tinyforge-secrets:" + settings.SECRET_KEY).encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt(plain):
    if plain in (None, ""):
        return plain
    return _PREFIX + _fernet().encrypt(plain.encode()).decode()


def decrypt(stored):
    """Return the plain text; a value that is not ours (legacy/plain) is returned unchanged."""
    if not stored or not stored.startswith(_PREFIX):
        return stored
    try:
        return _fernet().decrypt(stored[len(_PREFIX):].encode()).decode()
    except InvalidToken:
        return ""


class EncryptedTextField(models.TextField):
    """A text field stored encrypted; Python code only ever sees the plain value."""

    def from_db_value(self, value, expression, connection):
        return decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "" or str(value).startswith(_PREFIX):
            return value
        return encrypt(str(value))


def mask(text, secret_values):
    """Replace every secret value (longest first, so overlaps mask whole) in ``text``."""
    if not text:
        return text
    for value in sorted({v for v in secret_values if v and len(v) >= 3}, key=len, reverse=True):
        text = text.replace(value, MASK)
    return text


def known_secret_values(workload=None):
    """Every secret value the control plane knows: registry passwords and secret env values."""
    from apps.workloads.models import EnvVar, RegistryCredential

    values = [cred.password for cred in RegistryCredential.objects.all()]
    env = EnvVar.objects.filter(secret=True)
    if workload is not None:
        env = env.filter(workload=workload)
    values += [var.value for var in env]
    return [v for v in values if v]
