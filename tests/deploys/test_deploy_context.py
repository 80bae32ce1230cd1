"""dispatch resolves what a source needs from the database (mounts, registry credentials) and
hands it over: sources never query. The fake-source tests need no engine; the last ones pull
from a registry that wants a password, on the real engine."""
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.deploys.dispatch import dispatch
from apps.deploys.ledger import artifact_available
from apps.deploys.models import Deploy
from apps.workloads import engine as tf_engine
from apps.workloads.models import RegistryCredential, Volume, Workload
from apps.workloads.sources.base import Mount
from tests.deploys.fake_source import FakeSource, install_fake_source
from tests.support import dockerlab


@pytest.fixture
def fake(monkeypatch):
    return install_fake_source(monkeypatch)


@pytest.fixture
def fake_workload(db, fake):
    return Workload.objects.create(name="ctxapp", kind="fake", spec={"what": "x"})


def test_dispatch_hands_the_source_the_workload_volumes_as_mounts(fake, fake_workload):
    named = Volume.objects.create(workload=fake_workload, name="data", mount_path="/data")
    Volume.objects.create(workload=fake_workload, host_path="/srv/ctx-config",
                          mount_path="/config", read_only=True)
    assert dispatch(fake_workload, "manual").status == "succeeded"
    [ctx] = fake.contexts
    assert ctx.mounts == [
        Mount(source=named.engine_name, target="/data", read_only=False, volume=True),
        Mount(source="/srv/ctx-config", target="/config", read_only=True, volume=False),
    ]
    assert named.engine_name.startswith(fake_workload.engine_key)


def test_dispatch_hands_the_source_registry_credentials_by_host(fake, fake_workload):
    RegistryCredential.objects.create(host="127.0.0.1:5999", username="bot", password="pw-ctx-1")
    dispatch(fake_workload, "manual")
    [ctx] = fake.contexts
    assert ctx.registry_auth == {"127.0.0.1:5999": {"username": "bot", "password": "pw-ctx-1"}}
    assert ctx.auth_for("127.0.0.1:5999") == {"username": "bot", "password": "pw-ctx-1"}
    assert ctx.auth_for("ghcr.io") is None


def test_the_availability_check_hands_the_stored_credentials_to_the_source(
    fake, fake_workload, monkeypatch
):
    RegistryCredential.objects.create(host="reg.example:5000", username="u", password="p-ctx-2")
    seen = []

    def available(self, workload, pinned, registry_auth=None):
        seen.append(registry_auth)
        return True

    monkeypatch.setattr(FakeSource, "available", available)
    deploy = dispatch(fake_workload, "manual")
    assert artifact_available(deploy)
    assert artifact_available(deploy, registry_auth={}) and seen[-1] == {}
    assert seen[0] == {"reg.example:5000": {"username": "u", "password": "p-ctx-2"}}


def test_an_availability_check_that_asks_no_registry_reads_no_credentials(fake, fake_workload):
    RegistryCredential.objects.create(host="reg.example:5000", username="u", password="p-ctx-3")
    deploy = Deploy.objects.select_related("workload").get(
        pk=dispatch(fake_workload, "manual").pk)
    with CaptureQueriesContext(connection) as queries:
        assert artifact_available(deploy)  # the fake's artifact needs no registry
    # The check may look up the workload's host; it never reads a credential.
    table = RegistryCredential._meta.db_table
    assert not [q for q in queries.captured_queries if table in q["sql"]]
    assert len(queries.captured_queries) <= 1


@pytest.mark.docker
@pytest.mark.django_db(transaction=True)
def test_a_private_image_whose_local_copy_is_gone_is_pulled_again_with_its_credential(
    make_workload, auth_registry, auth_publisher, repo_name
):
    from tests.conftest import REGISTRY_PASSWORD, REGISTRY_USER

    repository = f"{auth_registry.host}/{repo_name}"
    v1 = auth_publisher.publish(repository, 1)
    RegistryCredential.objects.create(host=auth_registry.host, username=REGISTRY_USER,
                                      password=REGISTRY_PASSWORD)
    port = dockerlab.free_port()
    workload = make_workload(spec={"image": f"{repository}:live",
                                   "ports": [f"127.0.0.1:{port}:8080"]})
    first = dispatch(workload, "manual")
    assert first.status == "succeeded" and first.pinned_ref == v1
    auth_publisher.publish(repository, 2)
    assert dispatch(workload, "manual").status == "succeeded"
    tf_engine.remove_image(first.pinned["image_id"], force=True)
    assert tf_engine.inspect_image(first.pinned["image_id"]) is None
    # Pullable by digest only with the credential: the check and the replay both get it.
    assert artifact_available(first)
    assert not artifact_available(first, registry_auth={})
    back = dispatch(workload, "rollback", rollback_of=first)
    assert back.status == "succeeded", back.log
    assert Deploy.objects.get(pk=back.pk).pinned_ref == v1
    assert dockerlab.wait_for_http(f"http://127.0.0.1:{port}/", "version 1")
