"""Each workload's work directory (compose files, git checkouts) under TINYFORGE_WORK_DIR."""
import hashlib
from pathlib import Path

from django.conf import settings


def workdir(workload):
    path = Path(settings.TINYFORGE_WORK_DIR) / f"workload-{workload.pk}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def content_hash(text):
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def write_if_changed(path, text):
    """Write ``text`` to ``path`` only when its content differs; True when it wrote."""
    path = Path(path)
    if path.exists() and content_hash(path.read_text()) == content_hash(text):
        return False
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return True
