"""Shared personas, API clients and real-engine fixtures (Docker engine + local registries)."""
import json
import os
import uuid

import pytest
from django.conf import settings
from django.test import Client
from django.utils import translation

from tests.support import commits, dockerlab, proxylab
from tests.support.second_engine import SecondEngine

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


# --- personas -------------------------------------------------------------------------------

@pytest.fixture
def admin_user(django_user_model):
    return django_user_model.objects.create_superuser("root", "", "root-password-1")


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_user("ops", "", "ops-password-1", is_staff=True)


@pytest.fixture
def viewer(django_user_model):
    return django_user_model.objects.create_user("viewer", "", "viewer-password-1")


class ApiClient:
    """A JSON client for /api/ that authenticates with a bearer token (or not at all)."""

    def __init__(self, token=None, client=None):
        self.client = client or Client()
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}

    def _send(self, method, path, data=None, **extra):
        body = json.dumps(data) if data is not None else None
        kwargs = {"content_type": "application/json"} if body is not None else {}
        response = getattr(self.client, method)(
            "/api" + path, body, **kwargs, **self.headers, **extra
        )
        response.data = response.json() if response.content and response.get(
            "Content-Type", "").startswith("application/json") else None
        return response

    def get(self, path, **extra):
        return self._send("get", path, **extra)

    def post(self, path, data=None, **extra):
        return self._send("post", path, data if data is not None else {}, **extra)

    def patch(self, path, data, **extra):
        return self._send("patch", path, data, **extra)

    def delete(self, path, **extra):
        return self._send("delete", path, **extra)


def _token_for(user):
    from apps.workloads.models import ApiToken

    return ApiToken.issue(user)[1]


@pytest.fixture
def as_admin(admin_user):
    return ApiClient(_token_for(admin_user))


@pytest.fixture
def as_staff(staff_user):
    return ApiClient(_token_for(staff_user))


@pytest.fixture
def as_viewer(viewer):
    return ApiClient(_token_for(viewer))


@pytest.fixture
def as_anonymous():
    return ApiClient()


@pytest.fixture
def make_workload(db):
    """Create a workload through the same action the API uses."""
    from apps.workloads import actions

    def make(name=None, kind="image", spec=None, **extra):
        return actions.create_workload(
            name=name or f"w-{uuid.uuid4().hex[:8]}",
            kind=kind,
            spec=spec if spec is not None else {"image": "127.0.0.1:1/none/web:live"},
            **extra,
        )

    return make


# --- the real engine and registries ---------------------------------------------------------

@pytest.fixture(scope="session")
def engine():
    """The Docker engine; in CI its absence fails the run instead of skipping."""
    if not dockerlab.engine_available():
        if IN_CI:
            pytest.fail("CI needs a Docker engine: run scripts/engine.sh first")
        pytest.skip("no Docker engine (run scripts/engine.sh as root)")
    yield
    instance = f"tinyforge.instance={settings.TINYFORGE_INSTANCE}"
    dockerlab.remove_containers(instance)
    dockerlab.remove_volumes(instance)
    dockerlab.remove_networks(instance)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """On PostgreSQL, end the connections threads of this session left open to its test
    database (a server thread, a sampler), which would keep `DROP DATABASE` from removing it."""
    yield
    from django.db import connection

    if connection.vendor == "postgresql":
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE datname = current_database() AND pid <> pg_backend_pid()")


@pytest.fixture(autouse=True)
def on_commit_as_in_autocommit(monkeypatch):
    """Work enqueued after commit (deploys) runs in `django_db` tests as it would in production
    (see tests/support/commits.py)."""
    commits.run_on_commit_as_in_autocommit(monkeypatch)


@pytest.fixture(autouse=True)
def engine_objects_removed_after_test(request):
    """Each engine-backed test removes the containers it made (workload ids repeat between
    tests, since the database is reset, so leftovers would look like another test's)."""
    yield
    if request.node.get_closest_marker("docker") and dockerlab.engine_available():
        dockerlab.remove_containers(f"tinyforge.instance={settings.TINYFORGE_INSTANCE}")


@pytest.fixture(scope="session")
def registry(engine, tmp_path_factory):
    reg = dockerlab.Registry().start(tmp_path_factory.mktemp("registry"))
    yield reg
    reg.stop()


REGISTRY_USER = "deployer"
REGISTRY_PASSWORD = "reg-canary-" + uuid.uuid4().hex[:12]


@pytest.fixture(scope="session")
def auth_registry(engine, tmp_path_factory):
    reg = dockerlab.Registry().start(
        tmp_path_factory.mktemp("auth-registry"), REGISTRY_USER, REGISTRY_PASSWORD
    )
    yield reg
    reg.stop()


class ImagePublisher:
    """Builds web images that serve 'tinyforge test version N' and pushes them to a registry."""

    def __init__(self, tmpdir, docker_config=None):
        self.tmpdir = tmpdir
        self.docker_config = docker_config
        self.built = []

    def publish(self, repository, version, tag="live"):
        """Build version ``version`` as ``repository:tag``, push it, return its digest."""
        ref = f"{repository}:{tag}"
        # The repository in the page makes every test's image its own (no shared image ids).
        dockerlab.build_web_image(ref, f"{version} [{repository}]", self.tmpdir)
        self.built.append(ref)
        return dockerlab.push(ref, self.docker_config)

    def cleanup(self):
        for ref in self.built:
            dockerlab.remove_image(ref)


@pytest.fixture(scope="session")
def publisher(engine, tmp_path_factory):
    pub = ImagePublisher(tmp_path_factory.mktemp("images"))
    yield pub
    pub.cleanup()


@pytest.fixture(scope="session")
def auth_publisher(auth_registry, tmp_path_factory):
    config = tmp_path_factory.mktemp("docker-config")
    dockerlab.login(auth_registry.host, REGISTRY_USER, REGISTRY_PASSWORD, config)
    pub = ImagePublisher(tmp_path_factory.mktemp("auth-images"), config)
    yield pub
    pub.cleanup()


@pytest.fixture
def repo_name():
    """A repository path unique to one test, so tags never collide across tests."""
    return f"tftest/{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def second_engine(engine):
    """A second Docker engine on this machine (unix socket, TCP+TLS and SSH): see
    tests/support/second_engine.py."""
    lab = SecondEngine()
    try:
        lab.start_engine()
        lab.start_sshd()
        yield lab
    finally:
        lab.close()


# --- a private Caddy (the reverse proxy) ------------------------------------------------------

@pytest.fixture(scope="session")
def caddy_process(tmp_path_factory):
    """One ``caddy run`` for the session (free ports, storage in a temporary directory)."""
    lab = proxylab.Caddy(tmp_path_factory.mktemp("caddy")).start()
    yield lab
    lab.stop()


@pytest.fixture
def caddy(caddy_process, settings):
    """The session's Caddy, TinyForge pointed at it (HTTP and HTTPS listeners), and restarted
    with an empty config when a test killed it; TinyForge's own blocks are removed after."""
    if caddy_process.process.poll() is not None:
        caddy_process.start()
    settings.TINYFORGE_PROXY_ADMIN = caddy_process.admin
    settings.TINYFORGE_PROXY_HTTP = caddy_process.http
    settings.TINYFORGE_PROXY_HTTPS = caddy_process.https
    settings.TINYFORGE_PUBLIC_URL = ""
    settings.TINYFORGE_ACME_EMAIL = ""
    yield caddy_process
    if caddy_process.process.poll() is None:
        proxylab.remove_owned(caddy_process, f"tinyforge-{settings.TINYFORGE_INSTANCE}")


@pytest.fixture(autouse=True)
def _language_back_to_default():
    """A request with Accept-Language leaves its language active in the thread (LocaleMiddleware
    does not reset it); the next test must not write its logs and messages in Russian."""
    yield
    translation.deactivate()
