"""The upgrade to id-based engine names adopts what already exists (issue 8 §1): a volume named
the old way keeps its data, a compose workload keeps its project, old backups keep a map."""
import uuid

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from apps.deploys.dispatch import dispatch
from apps.deploys.models import Backup
from apps.workloads.models import Workload
from apps.workloads.sources import get_source
from apps.workloads.sources.compose import sanitize_project_name
from tests.support import dockerlab

pytestmark = [pytest.mark.docker, pytest.mark.django_db(transaction=True)]

BEFORE = [("workloads", "0003_backups"), ("deploys", "0003_backups")]


def migrate(targets=None):
    executor = MigrationExecutor(connection)
    targets = targets or executor.loader.graph.leaf_nodes()
    executor.migrate(targets)
    return MigrationExecutor(connection).loader.project_state(targets).apps


def test_an_upgrade_keeps_old_volumes_with_their_data_and_old_compose_projects(
    registry, publisher, repo_name, settings
):
    image = f"{registry.host}/{repo_name}:live"
    publisher.publish(f"{registry.host}/{repo_name}", 1)
    name = f"legacy-{uuid.uuid4().hex[:8]}"  # the engine may be shared with other runs
    volume = f"tf-{name}-data"
    # Labelled with this session's instance, so the session's sweep removes it.
    dockerlab.create_volume(volume, {"tinyforge.instance": settings.TINYFORGE_INSTANCE})
    try:
        dockerlab.write_into_volume(volume, "f", "written before the upgrade", image)
        old = migrate(BEFORE)
        OldWorkload = old.get_model("workloads", "Workload")
        legacy = OldWorkload.objects.create(name=name, kind="image", ref_id="legacy",
                                            spec={"image": image})
        old.get_model("workloads", "Volume").objects.create(
            workload=legacy, name="data", mount_path="/data")
        old.get_model("workloads", "Volume").objects.create(
            workload=legacy, host_path="/srv/legacy", mount_path="/srv")
        OldWorkload.objects.create(name="legacy.shop", kind="compose", ref_id="shop",
                                   spec={"compose": "services:\n  web:\n    image: x\n"})
        old.get_model("deploys", "Backup").objects.create(
            workload_id=legacy.pk, status="ok", path="/nowhere.tar.gz", sha256="0" * 64)
    finally:
        migrate()

    workload = Workload.objects.get(name=name)
    assert workload.volumes.get(name="data").docker_name == volume
    shop = Workload.objects.get(name="legacy.shop")
    assert get_source("compose").project(shop, shop.spec) == sanitize_project_name(
        "tf-legacy.shop")
    assert Backup.objects.get().volumes == {"0": f"volume:{volume}", "1": "host:/srv/legacy"}
    assert workload.engine_key != shop.engine_key

    workload.volumes.exclude(name="data").delete()  # /srv/legacy is not on this host
    deploy = dispatch(workload, "manual")

    assert deploy.status == "succeeded", deploy.log
    [container] = workload.containers.all()
    assert dockerlab.exec_in(container.docker_id, "cat", "/data/f") == (
        "written before the upgrade")
