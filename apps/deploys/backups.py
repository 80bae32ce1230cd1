"""Pre-deploy volume backups and their restore.

Backups are fail-open: whatever goes wrong is recorded on a Backup row (status and reason) and
the deploy goes on. On the local engine volumes are read at their host mount point; on another
host they are read and restored through a short-lived helper container streaming a tar (made
from an image the workload already runs there, so nothing is pulled). The archive is the same
either way and is kept here.
"""
import copy
import hashlib
import logging
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.crypto import mask
from apps.deploys.models import Backup
from apps.workloads import engine, hosts
from apps.workloads.engine import EngineError
from apps.workloads.secrets import known_secret_values
from apps.workloads.sources.base import LABEL_PREFIX, workload_labels

log = logging.getLogger("tinyforge.backups")

# How long a restore waits for a running deploy of the workload before giving up.
RESTORE_LOCK_WAIT = 10


class BackupError(Exception):
    pass


def backup_enabled(workload):
    if workload.auto_backup is not None:
        return workload.auto_backup
    return settings.TINYFORGE_AUTO_BACKUP


def backup_before_deploy(deploy, workload):
    """Snapshot the workload's volumes for ``deploy`` when backups are on; never raises."""
    if not backup_enabled(workload):
        return None
    try:
        backup = _snapshot(deploy, workload)
    except Exception as exc:  # fail-open: a backup problem must never block the deploy
        reason = mask(str(exc), known_secret_values())[:300]
        log.warning("backup before deploy %s failed: %s", deploy.pk, reason)
        backup = Backup.objects.create(workload=workload, deploy=deploy,
                                       status=Backup.State.FAILED, reason=reason)
    prune_backups(workload)
    return backup


def _snapshot(deploy, workload):
    if not workload.volumes.exists():
        return Backup.objects.create(workload=workload, deploy=deploy,
                                     status=Backup.State.SKIPPED, reason=_("No volumes."))
    remote = not engine.engine_is_local()
    if remote and _helper_image(workload) is None:
        return Backup.objects.create(
            workload=workload, deploy=deploy, status=Backup.State.SKIPPED,
            reason=_("Nothing runs on the host yet to read its volumes with."))
    sources = {} if remote else volume_dirs(workload)
    target_dir = Path(settings.TINYFORGE_BACKUP_DIR) / f"workload-{workload.pk}"
    target_dir.mkdir(parents=True, exist_ok=True)
    path = target_dir / f"{timezone.now():%Y%m%dT%H%M%S}-deploy-{deploy.pk}.tar.gz"
    members = {}
    with tarfile.open(path, "w:gz") as archive:
        if remote:
            members = _archive_remote(workload, archive)
        for identity, directory in sources.items():
            member = archive_member(identity)
            archive.add(directory, arcname=member)
            members[member] = identity
    return Backup.objects.create(
        workload=workload, deploy=deploy, status=Backup.State.OK, path=str(path),
        size=path.stat().st_size, sha256=_sha256(path), volumes=members,
    )


def _helper_image(workload):
    """An image the workload runs on its host now (the helper container is made from it)."""
    return (workload.containers.exclude(image="").values_list("image", flat=True)
            .order_by("pk").first())


def _helper_labels(workload):
    """The helper container's labels: the install's, but not the workload's selector (the
    container index and reconcile must never take a helper for one of its containers)."""
    return {LABEL_PREFIX + "instance": settings.TINYFORGE_INSTANCE,
            LABEL_PREFIX + "helper": "volume-archive",
            LABEL_PREFIX + "for-workload": str(workload.pk)}


def _engine_source(workload, volume):
    """What the helper mounts: the engine volume's name, or the host path on that host."""
    if volume.host_path:
        return volume.host_path
    engine.ensure_volume(volume.docker_name, workload_labels(workload))
    return volume.docker_name


def _archive_remote(workload, archive):
    """Each volume of ``workload`` on its (remote) host into ``archive``; returns
    {member: identity}. The engine's archive holds the volume under "v/"; it is stored under
    the volume's member name, as a local backup would be."""
    image, labels, members = _helper_image(workload), _helper_labels(workload), {}
    for volume in workload.volumes.order_by("pk"):
        member = archive_member(volume.identity)
        with tempfile.TemporaryFile() as raw:
            engine.read_volume_archive(_engine_source(workload, volume), image, labels, raw)
            raw.seek(0)
            with tarfile.open(fileobj=raw, mode="r|") as source:
                for item in source:
                    item.name = member + item.name[1:]  # "v/x" -> "<member>/x"
                    archive.addfile(item, source.extractfile(item) if item.isfile() else None)
        members[member] = volume.identity
    return members


def archive_member(identity):
    """The archive directory for one volume: derived from its identity (never its position in
    the list), and free of '/' so no member is a prefix of another."""
    return "v-" + hashlib.sha256(identity.encode()).hexdigest()[:20]


def volume_dirs(workload, only=None):
    """{volume identity: host directory} for every volume (or those whose identity is in
    ``only``); raises BackupError when one is not reachable from this host."""
    dirs = {}
    for volume in workload.volumes.order_by("pk"):
        if only is not None and volume.identity not in only:
            continue
        if volume.host_path:
            directory = volume.host_path
        else:
            engine.ensure_volume(volume.docker_name, workload_labels(workload))
            directory = engine.volume_mountpoint(volume.docker_name)
        if not directory or not Path(directory).is_dir():
            raise BackupError(_("Volume %(volume)s is not readable on this host.")
                              % {"volume": volume})
        dirs[volume.identity] = directory
    return dirs


@dataclass
class _RestoreHolder:
    """Takes the workload's deploy lock for a restore. The negative id can never be a deploy's,
    so reconcile never mistakes the restore for one (a stale one expires like a deploy's)."""

    pk: int
    workload_id: int


def restore_backup(backup, lock_wait=None):
    """Stop the workload's containers, put the archived volume contents back, start them.

    Each archived volume goes back only into the volume it was taken from (by identity);
    volumes added since are left alone, volumes removed since are skipped. The workload's deploy
    lock is held throughout, so a restore never races a deploy. Returns the identities
    restored. Raises BackupError (a readable message) when the archive is missing or altered,
    or the lock cannot be had within ``lock_wait`` seconds.
    """
    from apps.deploys.dispatch import acquire_lock, release_lock  # dispatch imports this module

    if backup.status != Backup.State.OK or not Path(backup.path).is_file():
        raise BackupError(_("Backup #%(id)s has no archive to restore.") % {"id": backup.pk})
    if _sha256(Path(backup.path)) != backup.sha256:
        raise BackupError(_("Backup #%(id)s does not match its checksum.") % {"id": backup.pk})
    if not backup.volumes:
        raise BackupError(_("Backup #%(id)s does not record which volume each part belongs to.")
                          % {"id": backup.pk})
    holder = _RestoreHolder(pk=-backup.pk, workload_id=backup.workload_id)
    wait = RESTORE_LOCK_WAIT if lock_wait is None else lock_wait
    if not acquire_lock(holder, wait=wait):
        raise BackupError(_("A deploy of %(name)s is running; restore backup #%(id)s when it "
                            "has finished.") % {"name": backup.workload.name, "id": backup.pk})
    try:
        with hosts.workload_engine(backup.workload):
            if not engine.engine_is_local():
                return _restore_remote(backup)
            return _restore_locked(backup)
    finally:
        release_lock(holder)


def _restore_locked(backup):
    workload = backup.workload
    dirs = volume_dirs(workload, only=set(backup.volumes.values()))
    for member, identity in backup.volumes.items():
        if identity not in dirs:
            log.info("restore of backup %s: volume %s is gone, part %s skipped",
                     backup.pk, identity, member)
    running = [c.docker_id for c in workload.containers.filter(state="running")]
    try:
        for container_id in running:
            engine.stop(container_id)
        _extract(backup, {member: dirs[identity] for member, identity in backup.volumes.items()
                          if identity in dirs})
    finally:
        for container_id in running:
            try:
                engine.start(container_id)
            except EngineError as exc:
                log.warning("restore: could not restart %s (%s)", container_id[:12], exc.code)
    return sorted(identity for identity in backup.volumes.values() if identity in dirs)


def _restore_remote(backup):
    """The remote host's volumes emptied and refilled from the archive, through helper
    containers, with the workload's containers stopped meanwhile."""
    workload = backup.workload
    image = _helper_image(workload)
    if image is None:
        raise BackupError(_("Nothing runs on the host to restore its volumes with."))
    labels = _helper_labels(workload)
    volumes = {v.identity: v for v in workload.volumes.all()}
    restored = []
    running = [c.docker_id for c in workload.containers.filter(state="running")]
    try:
        for container_id in running:
            engine.stop(container_id)
        with tarfile.open(backup.path, "r:gz") as archive:
            everything = archive.getmembers()
            for member, identity in backup.volumes.items():
                volume = volumes.get(identity)
                if volume is None:
                    continue
                with tempfile.TemporaryFile() as data:
                    with tarfile.open(fileobj=data, mode="w") as part:
                        for item in everything:
                            if item.name == member or item.name.startswith(member + "/"):
                                copied = copy.copy(item)
                                copied.name = "./" + item.name[len(member):].lstrip("/")
                                part.addfile(copied, archive.extractfile(item)
                                             if item.isfile() else None)
                    data.seek(0)
                    source = _engine_source(workload, volume)
                    engine.clear_volume(source, image, labels)
                    engine.write_volume_archive(source, image, labels, data.read())
                restored.append(identity)
    finally:
        for container_id in running:
            try:
                engine.start(container_id)
            except EngineError as exc:
                log.warning("restore: could not restart %s (%s)", container_id[:12], exc.code)
    return sorted(restored)


def _extract(backup, dirs):
    """{archive member: directory}: each directory is emptied and refilled from its member."""
    with tarfile.open(backup.path, "r:gz") as archive:
        everything = archive.getmembers()
        for key, directory in dirs.items():
            _empty(Path(directory))
            members = [copy.copy(m) for m in everything
                       if m.name == key or m.name.startswith(key + "/")]
            for member in members:
                member.name = member.name[len(key):].lstrip("/") or "."
            archive.extractall(directory, members=members, filter="tar")


def _empty(directory):
    for child in directory.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def prune_backups(workload):
    """Keep the newest TINYFORGE_BACKUPS_KEEP backups of the workload (files included)."""
    doomed = workload.backups.order_by("-id")[settings.TINYFORGE_BACKUPS_KEEP:]
    for backup in list(doomed):
        if backup.path:
            Path(backup.path).unlink(missing_ok=True)
        backup.delete()


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
