"""The management commands: deploy, create_api_token and ensure_admin (no engine)."""
import re
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.deploys.models import Deploy, Reason, Status
from apps.workloads.models import ApiToken, EnvVar, Workload
from tests.conftest import ApiClient
from tests.deploys.fake_source import install_fake_source

pytestmark = pytest.mark.django_db

SECRET = "command-canary-93c2aa"


@pytest.fixture
def fake(monkeypatch):
    return install_fake_source(monkeypatch)


@pytest.fixture
def fake_workload(fake):
    workload = Workload.objects.create(name="fakeapp", kind="fake", spec={})
    EnvVar.objects.create(workload=workload, key="TOKEN", value=SECRET, secret=True)
    return workload


def run(*args, **options):
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


# --- deploy -------------------------------------------------------------------------------------

def test_deploy_prints_progress_and_succeeds(fake, fake_workload):
    out, _err = run("deploy", "fakeapp")
    deploy = Deploy.objects.get()
    assert deploy.status == Status.SUCCEEDED and deploy.reason == Reason.CLI
    assert f"Deploy #{deploy.pk} of fakeapp started." in out
    assert "fake deploy of fakeapp" in out
    summary = rf"Deploy #{deploy.pk} succeeded in [0-9.,]+ s: running fake:1\.$"
    assert re.search(summary, out.rstrip())
    assert SECRET not in out


def test_deploy_finds_a_workload_by_id_too(fake, fake_workload):
    run("deploy", str(fake_workload.pk))
    assert Deploy.objects.get().workload_id == fake_workload.pk


def test_a_failing_deploy_raises_command_error_with_one_readable_line(fake, fake_workload):
    fake.behaviour = "engine_error"
    out = StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("deploy", "fakeapp", stdout=out)
    message = str(caught.value)
    deploy = Deploy.objects.get()
    assert deploy.status == Status.FAILED
    assert "\n" not in message.strip()
    assert f"#{deploy.pk}" in message and "start_failed" in message
    assert str(deploy.error_message) in message
    assert caught.value.returncode != 0
    assert SECRET not in message and SECRET not in out.getvalue()


def test_a_crashing_source_also_ends_in_one_readable_line(fake, fake_workload):
    fake.behaviour = "crash"
    with pytest.raises(CommandError) as caught:
        run("deploy", "fakeapp")
    message = str(caught.value)
    assert "internal" in message and "Traceback" not in message and "\n" not in message.strip()


def test_deploying_an_unknown_workload_is_a_command_error(db):
    with pytest.raises(CommandError) as caught:
        run("deploy", "nope")
    assert "nope" in str(caught.value)
    assert not Deploy.objects.exists()


def test_deploying_an_unknown_numeric_id_is_a_command_error(db):
    with pytest.raises(CommandError):
        run("deploy", "424242")


# --- create_api_token ---------------------------------------------------------------------------

def test_create_api_token_prints_a_token_that_authenticates(staff_user):
    out, _err = run("create_api_token", staff_user.username, "--name", "ci")
    token = out.strip()
    assert token and "\n" not in token
    row = ApiToken.objects.get(user=staff_user)
    assert row.name == "ci" and token.startswith(row.prefix)
    assert token not in row.token_hash
    response = ApiClient(token).get("/workloads")
    assert response.status_code == 200 and response.data == []


def test_each_created_token_is_different(staff_user):
    first, _ = run("create_api_token", staff_user.username)
    second, _ = run("create_api_token", staff_user.username)
    assert first.strip() != second.strip()
    assert ApiToken.objects.filter(user=staff_user).count() == 2


def test_create_api_token_for_an_unknown_user_is_a_command_error(db):
    with pytest.raises(CommandError) as caught:
        run("create_api_token", "nobody")
    assert "nobody" in str(caught.value)
    assert not ApiToken.objects.exists()


# --- ensure_admin -------------------------------------------------------------------------------

@pytest.fixture
def admin_env(monkeypatch):
    monkeypatch.delenv("TINYFORGE_ADMIN_PASSWORD", raising=False)
    monkeypatch.delenv("TINYFORGE_ADMIN_USER", raising=False)
    return monkeypatch


def test_ensure_admin_creates_a_superuser_once_and_prints_its_password_once(admin_env):
    first, _ = run("ensure_admin")
    match = re.search(r"password: (\S+)", first)
    assert match, first
    password = match.group(1)
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff and admin.check_password(password)
    second, _ = run("ensure_admin")
    assert password not in second and second.strip()
    assert get_user_model().objects.filter(is_superuser=True).count() == 1
    assert get_user_model().objects.get(username="admin").check_password(password)


def test_ensure_admin_uses_the_password_from_the_environment_and_does_not_print_it(admin_env):
    admin_env.setenv("TINYFORGE_ADMIN_PASSWORD", "env-admin-password-9")
    out, _ = run("ensure_admin", "--username", "boss")
    assert "env-admin-password-9" not in out
    assert "TINYFORGE_ADMIN_PASSWORD" in out
    boss = get_user_model().objects.get(username="boss")
    assert boss.is_superuser and boss.check_password("env-admin-password-9")


def test_ensure_admin_does_nothing_when_a_superuser_exists(admin_env, admin_user):
    out, _ = run("ensure_admin")
    assert "exists" in out and "password" not in out.lower()
    assert list(get_user_model().objects.filter(is_superuser=True)) == [admin_user]
    assert admin_user.check_password("root-password-1")
