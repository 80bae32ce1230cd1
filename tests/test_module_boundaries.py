"""The module boundaries the code map states, checked on the source itself (every import in every
module under apps/, function-level ones included): the safety net until import-linter runs them
in CI.

- only the engine package (apps/workloads/engine/) imports ``docker``;
- source plugins (apps/workloads/sources/) import no models and nothing of ``django.db``;
- ``apps.workloads`` imports no other app;
- nothing imports ``apps.notifications`` (it receives ``apps.core.notices`` signals), and it and
  ``apps.metrics`` ignore each other.

It also checks the failure vocabulary: every code raised or recorded anywhere is in
``engine.CODES``, and the ledger has words for exactly those codes.
"""
import ast
from pathlib import Path

from apps.deploys.models import ERROR_MESSAGES
from apps.workloads.engine import CODES

ROOT = Path(__file__).resolve().parent.parent
APPS = ROOT / "apps"
ENGINE = APPS / "workloads" / "engine"
SOURCES = APPS / "workloads" / "sources"
WORKLOADS = APPS / "workloads"

# Known violations still being removed elsewhere, by file: each may keep importing what is listed
# until the change that removes it lands (then delete its entry).
PENDING = {}  # path -> imports still to remove; empty since the admin-page hook landed


def modules(under=APPS):
    return sorted(path for path in under.rglob("*.py") if "migrations" not in path.parts)


def imported_names(path, root=ROOT):
    """Every module name ``path`` imports, absolute (relative imports resolved from ``root``)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = ".".join(path.relative_to(root).with_suffix("").parts[:-1])
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            names.add(base)
            # "from apps.workloads import models" imports the module apps.workloads.models.
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def within(name, prefix):
    return name == prefix or name.startswith(prefix + ".")


def relative(path):
    return str(path.relative_to(ROOT))


def violations(paths, forbidden):
    found = {}
    for path in paths:
        bad = {name for name in imported_names(path) if forbidden(name)}
        pending = PENDING.get(relative(path), set())
        bad = {name for name in bad if not any(within(name, known) for known in pending)}
        if bad:
            found[relative(path)] = sorted(bad)
    return found


def test_only_the_engine_package_imports_docker():
    outside = [path for path in modules() if ENGINE not in path.parents]
    assert violations(outside, lambda name: within(name, "docker")) == {}


def test_the_engine_package_does_import_docker_so_the_check_sees_real_imports():
    assert any(within(name, "docker") for path in modules(ENGINE)
               for name in imported_names(path))


def test_source_plugins_import_no_models_and_no_orm():
    def forbidden(name):
        return (within(name, "django.db") or name.endswith(".models")
                or within(name, "apps.workloads.models"))

    assert violations(modules(SOURCES), forbidden) == {}


def test_the_workloads_app_imports_no_other_app_but_core():
    def forbidden(name):
        return (within(name, "apps") and name != "apps" and not within(name, "apps.workloads")
                and not within(name, "apps.core"))

    assert violations(modules(WORKLOADS), forbidden) == {}


def test_core_imports_no_app():
    def forbidden(name):
        return within(name, "apps") and name != "apps" and not within(name, "apps.core")

    assert violations(modules(APPS / "core"), forbidden) == {}


def test_no_app_imports_notifications_it_listens_to_core_signals():
    outside = [path for path in modules() if APPS / "notifications" not in path.parents]
    assert violations(outside, lambda name: within(name, "apps.notifications")) == {}


def test_notifications_and_metrics_do_not_import_each_other():
    assert violations(modules(APPS / "notifications"),
                      lambda name: within(name, "apps.metrics")) == {}
    assert violations(modules(APPS / "metrics"),
                      lambda name: within(name, "apps.notifications")) == {}


def test_every_pending_exception_names_a_file_that_still_exists():
    for name in PENDING:
        assert (ROOT / name).exists(), f"{name} is gone: remove it from PENDING"


def test_the_scan_sees_relative_and_function_level_imports(tmp_path):
    package = tmp_path / "apps" / "workloads" / "sources"
    package.mkdir(parents=True)
    sneaky = package / "sneaky.py"
    sneaky.write_text("def f():\n    from ..models import RegistryCredential\n"
                      "    import docker.errors\n    from apps.deploys import ledger\n")
    names = imported_names(sneaky, root=tmp_path)
    assert "apps.workloads.models" in names
    assert "docker.errors" in names
    assert "apps.deploys.ledger" in names


# --- one failure vocabulary ---------------------------------------------------------------------

def _literal_codes():
    """(file, code) for each string literal given as a failure code anywhere under apps/:
    ``EngineError("x", ...)``, ``translate_errors("x")`` and the deploy runner's
    ``_finish(deploy, write, "x", ...)``."""
    found = []
    for path in modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            position = {"EngineError": 0, "translate_errors": 0, "_finish": 2}.get(name)
            if position is None or len(node.args) <= position:
                continue
            arg = node.args[position]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.append((relative(path), arg.value))
    return found


def test_every_failure_code_used_in_the_code_is_in_the_engine_list():
    used = _literal_codes()
    assert len(used) > 20  # the scan does see the raises
    assert [(path, code) for path, code in used if code not in CODES] == []


def test_the_ledger_has_a_message_for_every_engine_code_and_no_other():
    assert set(ERROR_MESSAGES) == set(CODES)
    assert all(str(message).strip() for message in ERROR_MESSAGES.values())


def test_the_ledger_keeps_no_words_for_a_code_the_engine_does_not_have():
    from apps.deploys import models

    assert set(models._MESSAGES) == set(CODES)
