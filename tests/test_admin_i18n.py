"""The admin speaks Russian when asked (Accept-Language or the language switcher) and English
otherwise. Uses the compiled catalogs (locale/*/LC_MESSAGES/django.mo)."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.utils.translation.reloader import translation_file_changed

from apps.workloads.models import Workload

pytestmark = pytest.mark.django_db

LOCALE = Path(settings.BASE_DIR) / "locale"


@pytest.fixture(scope="module", autouse=True)
def compiled_catalogs():
    """.mo files are build output (git-ignored; scripts/setup.sh compiles them). Recompile a
    missing or stale one so a freshly edited .po is what the test sees, then drop Django's
    cached translations."""
    stale = []
    for po in sorted(LOCALE.glob("*/LC_MESSAGES/django.po")):
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            stale.append((po, mo))
    if stale:
        msgfmt = shutil.which("msgfmt")
        if msgfmt is None:
            pytest.fail("locale/*.mo missing or stale and msgfmt is not installed: "
                        "install gettext, run manage.py compilemessages --ignore=.venv")
        for po, mo in stale:
            tmp = mo.with_name(f".{mo.name}.{os.getpid()}.tmp")
            subprocess.run([msgfmt, "--check-format", "-o", str(tmp), str(po)], check=True)
            os.replace(tmp, mo)
    translation_file_changed(None, Path("django.mo"))
    yield
    translation_file_changed(None, Path("django.mo"))


@pytest.fixture
def workload():
    return Workload.objects.create(
        name="web", kind="image", spec={"image": "127.0.0.1:5000/team/web:live"}
    )


def _text(response):
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def test_admin_index_in_russian_by_accept_language(admin_client):
    page = _text(admin_client.get("/admin/", HTTP_ACCEPT_LANGUAGE="ru"))
    assert '<html lang="ru"' in page
    assert "Рабочие нагрузки" in page  # the Workloads app, from locale/ru
    assert "Развёртывания" in page  # the Deploys app
    assert "Администрирование сайта" in page  # Django's own catalog
    assert "Выйти" in page
    assert 'id="language-switcher"' in page
    assert '<option value="ru" selected>Русский</option>' in page
    assert "Workloads" not in page


def test_language_switcher_sets_russian(admin_client):
    response = admin_client.post("/i18n/setlang/", {"language": "ru", "next": "/admin/"})
    assert response.status_code == 302
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "ru"
    page = _text(admin_client.get("/admin/"))  # no Accept-Language: the cookie decides
    assert "Рабочие нагрузки" in page
    assert 'id="language-switcher"' in page


def test_workload_list_column_headers_in_russian(admin_client, workload):
    page = _text(admin_client.get("/admin/workloads/workload/", HTTP_ACCEPT_LANGUAGE="ru"))
    # list_display: name, kind, state_badge, running_version, last_deploy (capitalised by
    # the admin's header template).
    for header in ("Имя", "Тип", "Состояние", "Запущенная версия", "Последнее развёртывание"):
        assert f">{header}<" in page, header
    assert "Рабочие нагрузки" in page  # breadcrumbs / title
    assert "Развернуть сейчас" in page  # the "Deploy now" action
    assert 'id="language-switcher"' in page


def test_admin_in_english_by_default(admin_client, workload):
    index = _text(admin_client.get("/admin/", HTTP_ACCEPT_LANGUAGE="en"))
    assert '<html lang="en"' in index
    assert "Workloads" in index
    assert "Рабочие нагрузки" not in index
    page = _text(admin_client.get("/admin/workloads/workload/", HTTP_ACCEPT_LANGUAGE="en"))
    assert "Workloads" in page
    for header in ("Name", "Kind", "State", "Version running", "Last deploy"):
        assert f">{header}<" in page, header
    assert "Рабочие нагрузки" not in page
