"""Test settings: django-q2 runs tasks inline, each test session labels its engine objects apart."""
import os
import uuid

os.environ.setdefault("TINYFORGE_INSTANCE", "test-" + uuid.uuid4().hex[:10])

from tinyforge.settings import *  # noqa: E402,F403
from tinyforge.settings import DATABASES, Q_CLUSTER, TINYFORGE_INSTANCE  # noqa: E402

Q_CLUSTER = {**Q_CLUSTER, "sync": True}
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
TINYFORGE_START_GRACE = 1.0

# On a server database (PostgreSQL) the test database is named after the session's label, so two
# suites can share one cluster at once (CI runs the SQLite and the PostgreSQL suites side by
# side) without one dropping the other's database.
if DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("TEST", {})["NAME"] = (
        f"test_{DATABASES['default']['NAME']}_{TINYFORGE_INSTANCE}".replace("-", "_")
    )
