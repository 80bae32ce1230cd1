"""The project's gettext catalogs for tests: compile them (the .mo files are build output) and
read the .po entries with a tiny parser (polib is not a dependency)."""
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.utils.translation.reloader import translation_file_changed

LOCALE = Path(settings.BASE_DIR) / "locale"
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


def po_path(lang):
    return LOCALE / lang / "LC_MESSAGES" / "django.po"


def compile_catalogs():
    """Compile every missing or stale .mo (msgfmt), then drop Django's cached translations."""
    for po in sorted(LOCALE.glob("*/LC_MESSAGES/django.po")):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        msgfmt = shutil.which("msgfmt")
        if msgfmt is None:
            pytest.fail("locale/*.mo missing or stale and msgfmt is not installed: install "
                        "gettext, or run manage.py compilemessages --ignore=.venv")
        tmp = mo.with_name(f".{mo.name}.{os.getpid()}.tmp")
        subprocess.run([msgfmt, "--check-format", "-o", str(tmp), str(po)], check=True)
        os.replace(tmp, mo)
    translation_file_changed(None, Path("django.mo"))


@dataclass
class PoEntry:
    msgid: str = ""
    msgctxt: str | None = None
    msgid_plural: str | None = None
    msgstr: dict = field(default_factory=dict)  # plural index (0 when singular) -> text
    fuzzy: bool = False
    obsolete: bool = False


def _unquote(token):
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), token[1:-1])


def po_entries(path):
    """The entries of a .po file, header excluded."""
    entries, entry, current = [], PoEntry(), None

    def flush():
        nonlocal entry, current
        if entry.msgid or entry.msgstr:
            entries.append(entry)
        entry, current = PoEntry(), None

    for raw in Path(path).read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line.startswith("#~"):
            entry.obsolete = True
            line = line[2:].strip()
        if not line:
            flush()
        elif line.startswith("#,"):
            entry.fuzzy = entry.fuzzy or "fuzzy" in line
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            key, index = current
            text = _unquote(line)
            if key == "msgstr":
                entry.msgstr[index] += text
            else:
                setattr(entry, key, getattr(entry, key) + text)
        else:
            keyword, _sep, rest = line.partition(" ")
            if keyword in ("msgctxt", "msgid") and entry.msgstr:
                flush()
            match = re.fullmatch(r"msgstr(?:\[(\d+)\])?", keyword)
            if match:
                current = ("msgstr", int(match.group(1) or 0))
                entry.msgstr[current[1]] = _unquote(rest)
            else:
                current = (keyword, None)
                setattr(entry, keyword, _unquote(rest))
    flush()
    return [e for e in entries if e.msgid and not e.obsolete]


def plural_count(path):
    """nplurals from the catalog's Plural-Forms header."""
    match = re.search(r"nplurals=(\d+)", Path(path).read_text(encoding="utf-8"))
    return int(match.group(1)) if match else None
