"""Backups keyed by volume identity, and restores that hold the deploy lock (issue 8 §1)."""
import os
import subprocess

import pytest
from django.utils import timezone

from apps.deploys.backups import BackupError, restore_backup
from apps.deploys.dispatch import dispatch
from apps.deploys.models import Backup
from apps.workloads import actions
from apps.workloads.models import Workload

pytestmark = [pytest.mark.docker, pytest.mark.django_db(transaction=True)]


def mountpoint(volume_name):
    return subprocess.run(["docker", "volume", "inspect", "-f", "{{.Mountpoint}}", volume_name],
                          check=True, capture_output=True, text=True).stdout.strip()


def write(volume_name, text):
    with open(os.path.join(mountpoint(volume_name), "f.txt"), "w") as handle:
        handle.write(text)


def read(volume_name):
    with open(os.path.join(mountpoint(volume_name), "f.txt")) as handle:
        return handle.read()


@pytest.fixture
def two_volumes(make_workload, registry, publisher, repo_name, settings, tmp_path):
    settings.TINYFORGE_BACKUP_DIR = tmp_path / "backups"
    publisher.publish(f"{registry.host}/{repo_name}", 1)
    workload = make_workload(spec={"image": f"{registry.host}/{repo_name}:live"},
                             auto_backup=True,
                             volumes=[{"name": "alpha", "mount_path": "/alpha"},
                                      {"name": "beta", "mount_path": "/beta"}])
    assert dispatch(workload, "manual").status == "succeeded"
    names = dict(workload.volumes.values_list("name", "engine_name"))
    write(names["alpha"], "alpha at backup")
    write(names["beta"], "beta at backup")
    deploy = dispatch(workload, "manual")
    backup = Backup.objects.get(deploy=deploy)
    assert backup.status == "ok"
    return workload, backup, names


def test_after_the_volume_list_changes_a_restore_writes_each_archive_only_into_its_own_volume(
    two_volumes
):
    workload, backup, names = two_volumes
    # alpha leaves the list and gamma takes its position: a positional restore would pour
    # alpha's archive into gamma.
    actions.update_workload(workload, {"volumes": [
        {"name": "gamma", "mount_path": "/gamma"}, {"name": "beta", "mount_path": "/beta"}]})
    workload = Workload.objects.get(pk=workload.pk)
    assert dispatch(workload, "manual").status == "succeeded"
    now = dict(workload.volumes.values_list("name", "engine_name"))
    assert now["beta"] == names["beta"]
    write(now["gamma"], "gamma after")
    write(names["beta"], "beta after")
    write(names["alpha"], "alpha after")

    restored = restore_backup(backup)

    assert restored == [f"volume:{names['beta']}"]
    assert read(names["beta"]) == "beta at backup"
    assert read(now["gamma"]) == "gamma after"
    assert read(names["alpha"]) == "alpha after"
    assert workload.containers.get().state == "running"


def test_a_restore_waits_for_the_deploy_lock_and_fails_clearly_when_a_deploy_holds_it(
    two_volumes
):
    workload, backup, names = two_volumes
    write(names["beta"], "written by the running deploy")
    Workload.objects.filter(pk=workload.pk).update(
        lock_deploy_id=backup.deploy_id, lock_acquired_at=timezone.now(), lock_owner="x:1")

    with pytest.raises(BackupError, match="deploy of .* is running"):
        restore_backup(backup, lock_wait=0.3)

    assert read(names["beta"]) == "written by the running deploy"
    assert Workload.objects.get(pk=workload.pk).lock_deploy_id == backup.deploy_id


def test_a_restore_holds_the_deploy_lock_and_frees_it_afterwards(two_volumes, monkeypatch):
    workload, backup, names = two_volumes
    seen = []
    from apps.deploys import backups

    real_extract = backups._extract

    def watching_extract(*args):
        seen.append(Workload.objects.get(pk=workload.pk).lock_deploy_id)
        return real_extract(*args)

    monkeypatch.setattr(backups, "_extract", watching_extract)
    write(names["alpha"], "changed")
    restore_backup(backup)
    assert seen == [-backup.pk]
    assert Workload.objects.get(pk=workload.pk).lock_deploy_id is None
    assert read(names["alpha"]) == "alpha at backup"
