"""Secrets at rest and in text.

Values are encrypted with a Fernet key derived from SECRET_KEY, so a database dump alone reveals
nothing. ``mask`` replaces every known secret value in free text before it reaches a log line, the
deploy log or the event log. Apps that store secrets register a source of their values at ready()
(``register_secret_source``), so core can mask without importing any app's models.
"""
import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.db import models

MASK = "••••••"
_PREFIX = "enc:"
_SECRET_SOURCES = []


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


def hash_token(raw):
    """The stored form of a bearer or webhook token: only its SHA-256 is kept."""
    return hashlib.sha256(raw.encode()).hexdigest()


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


def register_secret_source(source):
    """``source()`` returns secret values an app stores; called from the app's ready()."""
    if source not in _SECRET_SOURCES:
        _SECRET_SOURCES.append(source)


def registered_secret_values():
    """Every secret value the registered sources know (it may raise if the database fails)."""
    return [value for source in _SECRET_SOURCES for value in source()]
