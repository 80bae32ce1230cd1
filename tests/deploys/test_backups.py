"""Pre-deploy backups: byte-identical restore, fail-open, retention, roll back with data."""
import os
import subprocess

import pytest
from django.core.management import call_command

from apps.deploys.backups import BackupError, restore_backup
from apps.deploys.dispatch import dispatch
from apps.deploys.models import Backup
from apps.deploys.replays import rollback

pytestmark = [pytest.mark.docker, pytest.mark.django_db(transaction=True)]


def mountpoint(volume_name):
    return subprocess.run(["docker", "volume", "inspect", "-f", "{{.Mountpoint}}", volume_name],
                          check=True, capture_output=True, text=True).stdout.strip()


def snapshot_tree(root):
    files = {}
    for folder, _dirs, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            with open(path, "rb") as handle:
                files[os.path.relpath(path, root)] = handle.read()
    return files


@pytest.fixture
def backed_up(make_workload, registry, publisher, repo_name, settings, tmp_path):
    settings.TINYFORGE_BACKUP_DIR = tmp_path / "backups"
    repository = f"{registry.host}/{repo_name}"
    publisher.publish(repository, 1)
    workload = make_workload(spec={"image": f"{repository}:live"},
                             volumes=[{"name": "data", "mount_path": "/data"}])
    workload.auto_backup = True
    workload.save()
    return workload, repository


def test_a_volume_backup_restores_byte_identical(backed_up, publisher):
    workload, repository = backed_up
    assert dispatch(workload, "manual").status == "succeeded"
    data = mountpoint(workload.volumes.get().docker_name)
    os.makedirs(os.path.join(data, "nested"), exist_ok=True)
    with open(os.path.join(data, "nested", "blob.bin"), "wb") as handle:
        handle.write(os.urandom(4096))
    with open(os.path.join(data, "notes.txt"), "w") as handle:
        handle.write("alpha\n")
    before = snapshot_tree(data)
    publisher.publish(repository, 2)
    second = dispatch(workload, "manual")
    backup = Backup.objects.get(deploy=second)
    assert backup.status == "ok" and backup.size > 0 and len(backup.sha256) == 64
    assert "Pre-deploy backup" in second.log
    with open(os.path.join(data, "notes.txt"), "w") as handle:
        handle.write("beta\n")
    os.remove(os.path.join(data, "nested", "blob.bin"))
    call_command("restore_backup", str(backup.pk))
    assert snapshot_tree(data) == before
    assert workload.containers.get().state == "running"


def test_a_failing_backup_does_not_block_the_deploy_and_shows_on_its_entry(
    make_workload, registry, publisher, repo_name, settings, tmp_path
):
    settings.TINYFORGE_AUTO_BACKUP = True
    settings.TINYFORGE_BACKUP_DIR = tmp_path / "backups"
    settings.TINYFORGE_HOST_PATHS = [str(tmp_path)]  # the host access policy allows this bind
    repository = f"{registry.host}/{repo_name}"
    publisher.publish(repository, 1)
    missing = tmp_path / "not-there-yet"
    workload = make_workload(spec={"image": f"{repository}:live"},
                             volumes=[{"host_path": str(missing), "mount_path": "/data"}])
    deploy = dispatch(workload, "manual")
    assert deploy.status == "succeeded"
    backup = deploy.backups.get()
    assert backup.status == "failed" and "not readable" in backup.reason


def test_backups_keep_only_the_newest_m(backed_up, settings):
    settings.TINYFORGE_BACKUPS_KEEP = 2
    workload, _repository = backed_up
    for _ in range(3):
        dispatch(workload, "manual")
    kept = list(workload.backups.all())
    assert len(kept) == 2 and all(os.path.exists(b.path) for b in kept)


def test_roll_back_with_data_restores_the_backup_taken_before_the_rolled_back_deploy(
    backed_up, publisher
):
    workload, repository = backed_up
    first = dispatch(workload, "manual")
    data = mountpoint(workload.volumes.get().docker_name)
    with open(os.path.join(data, "schema.txt"), "w") as handle:
        handle.write("v1 schema\n")
    publisher.publish(repository, 2)
    assert dispatch(workload, "manual").status == "succeeded"
    with open(os.path.join(data, "schema.txt"), "w") as handle:
        handle.write("v2 migrated schema\n")
    back = rollback(workload, with_data=True)
    assert back.status == "succeeded" and back.rollback_of_id == first.pk
    with open(os.path.join(data, "schema.txt")) as handle:
        assert handle.read() == "v1 schema\n"


def test_restore_refuses_an_altered_archive(backed_up):
    workload, _repository = backed_up
    dispatch(workload, "manual")
    backup = workload.backups.get()
    assert backup.status == "ok"
    with open(backup.path, "ab") as handle:
        handle.write(b"tampered")
    with pytest.raises(BackupError, match="checksum"):
        restore_backup(backup)


def test_the_backup_outcome_is_visible_on_the_ledger_entry(backed_up, as_admin):
    workload, _repository = backed_up
    deploy = dispatch(workload, "manual")
    entry = as_admin.get(f"/deploys/{deploy.pk}").data
    assert entry["backup"]["status"] == "ok" and entry["backup"]["size"] > 0
