"""Test settings: django-q2 runs tasks inline, each test session labels its engine objects apart."""
import os
import uuid

os.environ.setdefault("TINYFORGE_INSTANCE", "test-" + uuid.uuid4().hex[:10])

from tinyforge.settings import *  # noqa: E402,F403
from tinyforge.settings import Q_CLUSTER  # noqa: E402

Q_CLUSTER = {**Q_CLUSTER, "sync": True}
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
TINYFORGE_START_GRACE = 1.0
