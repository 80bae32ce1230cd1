"""The en/ru catalogs: complete, consistent with each other and with the source tree.

Pure checks (no engine, no database). Refreshing the catalogs is described in locale/README.md.
"""
import ast
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LOCALE = ROOT / "locale"
LANGS = ("en", "ru")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
REFRESH = (
    ".venv/bin/python manage.py makemessages -l en -l ru --ignore=.venv --ignore=tests "
    "--no-location, translate the new entries in locale/ru/LC_MESSAGES/django.po, then "
    ".venv/bin/python manage.py compilemessages --ignore=.venv (see locale/README.md)"
)


# --- a tiny .po parser ----------------------------------------------------------------------

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "a": "\a", "b": "\b",
            "f": "\f", "v": "\v"}


def _unquote(token):
    token = token.strip()
    if not (len(token) >= 2 and token[0] == token[-1] == '"'):
        raise ValueError(f"not a quoted PO string: {token!r}")
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), "\\" + m.group(1)), token[1:-1])


class Entry:
    def __init__(self):
        self.flags = set()
        self.msgctxt = None
        self.msgid = ""
        self.msgid_plural = None
        self.msgstr = {}  # plural index (0 for a singular entry) -> text
        self.obsolete = False
        self.line = 0

    @property
    def key(self):
        return (self.msgctxt, self.msgid)

    @property
    def label(self):
        return (f"[{self.msgctxt}] " if self.msgctxt else "") + repr(self.msgid)


def parse_po(path):
    """Entries of a .po file (the header entry included, obsolete ones marked)."""
    entries, entry, field = [], None, None

    def finish():
        nonlocal entry, field
        if entry is not None and (entry.msgstr or entry.msgid):
            entries.append(entry)
        entry, field = None, None

    for number, raw in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        obsolete = line.startswith("#~")
        if obsolete:
            line = line[2:].strip()
            if line.startswith("|"):
                continue  # the previous msgid of an obsolete fuzzy entry
        if not line:
            finish()
            continue
        if line.startswith("#"):
            if entry is not None and field is not None and field != "comment":
                finish()  # a comment after msgstr starts the next entry
            if entry is None:
                entry, field = Entry(), "comment"
            if line.startswith("#,"):
                entry.flags.update(f.strip() for f in line[2:].split(",") if f.strip())
            continue
        keyword, _sep, rest = line.partition(" ")
        if line.startswith('"'):
            text = _unquote(line)
            if field == "msgctxt":
                entry.msgctxt += text
            elif field == "msgid":
                entry.msgid += text
            elif field == "msgid_plural":
                entry.msgid_plural += text
            elif isinstance(field, int):
                entry.msgstr[field] += text
            else:
                raise ValueError(f"{path}:{number}: stray string")
            continue
        if keyword in ("msgctxt", "msgid") and entry is not None and entry.msgstr:
            finish()  # entries not separated by a blank line
        if entry is None:
            entry = Entry()
        entry.obsolete = entry.obsolete or obsolete
        if keyword == "msgctxt":
            entry.msgctxt, field = _unquote(rest), "msgctxt"
        elif keyword == "msgid":
            entry.msgid, field, entry.line = _unquote(rest), "msgid", number
        elif keyword == "msgid_plural":
            entry.msgid_plural, field = _unquote(rest), "msgid_plural"
        elif keyword == "msgstr":
            field = 0
            entry.msgstr[0] = _unquote(rest)
        elif keyword.startswith("msgstr["):
            field = int(keyword[7:-1])
            entry.msgstr[field] = _unquote(rest)
        else:
            raise ValueError(f"{path}:{number}: cannot parse {raw!r}")
    finish()
    return entries


class Catalog:
    def __init__(self, path):
        self.path = path
        all_entries = parse_po(path)
        header = [e for e in all_entries if e.msgid == "" and e.msgctxt is None]
        self.header = header[0] if header else None
        self.entries = [e for e in all_entries if e.msgid != "" and not e.obsolete]

    @property
    def keys(self):
        return {e.key for e in self.entries}

    def header_field(self, name):
        if self.header is None:
            return None
        for line in self.header.msgstr.get(0, "").splitlines():
            key, _sep, value = line.partition(":")
            if key.strip().lower() == name.lower():
                return value.strip()
        return None

    @property
    def nplurals(self):
        match = re.search(r"nplurals\s*=\s*(\d+)", self.header_field("Plural-Forms") or "")
        return int(match.group(1)) if match else None


def catalog_path(lang, root=ROOT):
    return root / "locale" / lang / "LC_MESSAGES" / "django.po"


@pytest.fixture(scope="module")
def catalogs():
    missing = [lang for lang in LANGS if not catalog_path(lang).exists()]
    assert not missing, f"no catalog for {missing}; run: {REFRESH}"
    return {lang: Catalog(catalog_path(lang)) for lang in LANGS}


# --- placeholders ---------------------------------------------------------------------------

_PERCENT = re.compile(r"%(?:\((?P<name>[^)]*)\))?[#0+-]?\d*(?:\.\d+)?(?P<conv>[sdifrxXoeEgGca])")
_BRACE = re.compile(
    r"\{(?P<field>[A-Za-z_]\w*(?:\.\w+|\[[^\]{}]*\])*|\d*)(?:![rsa])?(?::[^{}]*)?\}"
)


def placeholders(text):
    """A multiset of the printf-style (%(name)s, %s, %d) and brace ({name}, {}) placeholders."""
    text = text.replace("%%", "")
    found = Counter()
    for match in _PERCENT.finditer(text):
        found[match.group(0)] += 1
    braced = text.replace("{{", "").replace("}}", "")
    for match in _BRACE.finditer(braced):
        found["{" + match.group("field") + "}"] += 1
    return found


def _placeholder_key(counter):
    """Named placeholders compare as a set, positional ones (%s, {}) by count."""
    named = {p for p in counter if p.startswith("%(") or (p.startswith("{") and p[1:-1]
                                                             and not p[1:-1].isdigit())}
    positional = Counter({p: n for p, n in counter.items() if p not in named})
    return named, positional


def _placeholder_problem(source, translation):
    if _placeholder_key(placeholders(source)) == _placeholder_key(placeholders(translation)):
        return None
    want = sorted(placeholders(source))
    got = sorted(placeholders(translation))
    return f"placeholders {got} in the translation, {want} in the msgid"


# --- the catalogs themselves ----------------------------------------------------------------

@pytest.mark.parametrize("lang", LANGS)
def test_catalog_header_is_final(catalogs, lang):
    catalog = catalogs[lang]
    assert catalog.header is not None, f"{catalog.path}: no header entry"
    assert "fuzzy" not in catalog.header.flags, (
        f"{catalog.path}: the header is marked fuzzy; remove the '#, fuzzy' line above "
        'msgid ""'
    )
    assert catalog.header_field("Language") == lang, f"{catalog.path}: header Language != {lang}"
    assert "charset=UTF-8" in (catalog.header_field("Content-Type") or "")
    assert catalog.nplurals, f"{catalog.path}: header has no Plural-Forms"


def test_ru_plural_forms_are_the_russian_three(catalogs):
    assert catalogs["ru"].nplurals == 3


@pytest.mark.parametrize("lang", LANGS)
def test_no_fuzzy_entries(catalogs, lang):
    fuzzy = [e.label for e in catalogs[lang].entries if "fuzzy" in e.flags]
    assert not fuzzy, (
        f"{lang}: fuzzy entries (msgmerge guessed these; check the translation, then delete "
        f"the '#, fuzzy' and '#| msgid' lines): {fuzzy}"
    )


def test_every_ru_entry_is_translated(catalogs):
    catalog = catalogs["ru"]
    untranslated = []
    for entry in catalog.entries:
        if entry.msgid_plural is not None:
            forms = [entry.msgstr.get(i, "") for i in range(catalog.nplurals)]
            if len(entry.msgstr) != catalog.nplurals or not all(forms):
                untranslated.append(f"{entry.label} (needs {catalog.nplurals} plural forms)")
        elif not entry.msgstr.get(0):
            untranslated.append(entry.label)
    assert not untranslated, (
        f"untranslated in {catalog.path.relative_to(ROOT)}: " + "; ".join(untranslated)
    )


@pytest.mark.parametrize("lang", LANGS)
def test_placeholders_survive_translation(catalogs, lang):
    problems = []
    for entry in catalogs[lang].entries:
        if entry.msgid_plural is None:
            sources = [entry.msgid]
        else:
            # A singular may spell out "one" where the plural says %(count)s; every form must
            # carry what the plural carries (Russian form 0 also covers 21, 31, ...).
            sources = [entry.msgid_plural]
        for index, text in sorted(entry.msgstr.items()):
            if not text:
                continue  # untranslated (allowed in en; reported for ru above)
            for source in sources:
                problem = _placeholder_problem(source, text)
                if problem:
                    problems.append(f"{entry.label} msgstr[{index}]: {problem}")
    assert not problems, f"{lang}: " + "; ".join(problems)


def test_en_and_ru_have_the_same_msgids(catalogs):
    en, ru = catalogs["en"].keys, catalogs["ru"].keys
    only_en = sorted(repr(k[1]) for k in en - ru)
    only_ru = sorted(repr(k[1]) for k in ru - en)
    assert not only_en and not only_ru, (
        f"catalogs out of step; only in en: {only_en}; only in ru: {only_ru}. "
        f"Regenerate both at once: {REFRESH}"
    )


def test_parser_reads_what_msgfmt_reads(catalogs):
    """Guards the tiny parser: msgfmt's own count of messages must match ours."""
    msgfmt = shutil.which("msgfmt")
    if msgfmt is None:
        pytest.skip("msgfmt not installed")
    for lang, catalog in catalogs.items():
        result = subprocess.run(
            [msgfmt, "--statistics", "-o", os.devnull, str(catalog.path)],
            capture_output=True, text=True, env={**os.environ, "LC_ALL": "C"},
        )
        assert result.returncode == 0, result.stderr
        counts = [int(n) for n in re.findall(r"(\d+) \w+ (?:message|translation)", result.stderr)]
        assert sum(counts) == len(catalog.entries), (lang, result.stderr, len(catalog.entries))


# --- the catalogs against the source tree ---------------------------------------------------

_SKIP_TOP = {".venv", "venv", "tests", "locale", "var", "staticfiles", "node_modules",
             "test-artifacts", "__pycache__"}
_EXTRACTED_SUFFIXES = (".py", ".html", ".txt")  # what makemessages reads for the django domain


def _copy_sources(destination):
    """The files makemessages would read (same ignores as the refresh command), nothing else."""

    def ignore(directory, names):
        skipped = set()
        for name in names:
            path = Path(directory) / name
            if name.startswith(".") or name == "__pycache__" or name.endswith("~"):
                skipped.add(name)
            elif Path(directory) == ROOT and name in _SKIP_TOP:
                skipped.add(name)
            elif path.is_file() and not name.endswith(_EXTRACTED_SUFFIXES):
                skipped.add(name)
        return skipped

    for item in ROOT.iterdir():
        if item.name in ignore(ROOT, [item.name]):
            continue
        if item.is_dir():
            shutil.copytree(item, destination / item.name, ignore=ignore, symlinks=False)
        else:
            shutil.copy2(item, destination / item.name)


def test_makemessages_would_add_nothing(tmp_path, catalogs):
    """Extract msgids from a copy of the tree (makemessages writes temp files next to templates,
    so it never runs on the real checkout here) and compare with the committed catalog."""
    if shutil.which("xgettext") is None or shutil.which("msgmerge") is None:
        if IN_CI:
            pytest.fail("CI needs the gettext tools (apt-get install gettext)")
        pytest.skip("gettext tools not installed")
    project = tmp_path / "project"
    project.mkdir()
    _copy_sources(project)
    (project / "locale" / "ru" / "LC_MESSAGES").mkdir(parents=True)
    env = {
        **os.environ,
        "PYTHONPATH": str(project),
        "DJANGO_SETTINGS_MODULE": "tinyforge.settings_test",
        "TINYFORGE_DATA_DIR": str(tmp_path / "data"),
        "LC_ALL": "C.UTF-8",
    }
    env.pop("DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "django", "makemessages", "-l", "ru", "--ignore=.venv",
         "--ignore=tests", "--no-location", "-v", "0"],
        cwd=project, env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, f"makemessages failed:\n{result.stdout}\n{result.stderr}"
    extracted = Catalog(catalog_path("ru", project))
    assert extracted.entries, "makemessages extracted nothing: the copy of the tree is wrong"
    missing = extracted.keys - catalogs["ru"].keys
    assert not missing, (
        "strings marked for translation in the code but missing from the catalogs:\n  "
        + "\n  ".join(sorted(repr(k[1]) if not k[0] else f"[{k[0]}] {k[1]!r}" for k in missing))
        + f"\nTo fix: {REFRESH}"
    )


_GETTEXT_FUNCS = {
    "_", "gettext", "gettext_lazy", "gettext_noop", "ngettext", "ngettext_lazy", "pgettext",
    "pgettext_lazy", "npgettext", "npgettext_lazy",
}


def _source_files():
    for top in ("apps", "tinyforge"):
        for path in sorted((ROOT / top).rglob("*.py")):
            if "__pycache__" not in path.parts:
                yield path


def test_no_fstring_inside_gettext():
    """_(f"...") is never translated: the msgid changes with every value. Use %(name)s."""
    offenders = []
    pattern = re.compile(
        r"(?<![\w])(?:" + "|".join(sorted(_GETTEXT_FUNCS, key=len, reverse=True))
        + r")\(\s*(?:[rR]?[fF]|[fF][rR])[\"']"
    )
    for path in _source_files():
        text = path.read_text(encoding="utf-8")
        rel = path.relative_to(ROOT)
        for match in pattern.finditer(text):
            offenders.append(f"{rel}:{text.count(chr(10), 0, match.start()) + 1}")
        # The AST catches what a regex cannot see (a comment in between, a name alias).
        try:
            tree = ast.parse(text, filename=str(path))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else (
                func.attr if isinstance(func, ast.Attribute) else None)
            if name in _GETTEXT_FUNCS and any(isinstance(a, ast.JoinedStr) for a in node.args):
                offenders.append(f"{rel}:{node.lineno}")
    assert not offenders, (
        "f-strings inside gettext calls (the msgid would never match the catalog): "
        + ", ".join(sorted(set(offenders)))
    )
