"""Whether a rollback target can still run is stored on its ledger row when it can change
(image cleanup, the reconcile pass, a rollback's own check) so that pages never ask the engine."""
import pytest
from django.core.management import call_command

from apps.deploys.dispatch import dispatch
from apps.deploys.models import Deploy, Status
from apps.deploys.reconcile import reconcile_all
from apps.workloads import engine as tf_engine

GONE = "sha256:" + "e" * 64


def _gone_entry(workload, **pinned):
    return Deploy.objects.create(
        workload=workload, reason="api", source_kind="image", status=Status.SUCCEEDED,
        pinned_ref=GONE, pinned={"image": f"127.0.0.1:1/gone@{GONE}", "digest": GONE,
                                 "image_id": GONE, **pinned})


def test_a_new_entry_counts_as_available_until_it_is_checked(make_workload):
    entry = _gone_entry(make_workload())
    assert entry.artifact_available and entry.artifact_checked_at is None


@pytest.mark.docker
def test_the_reconcile_pass_stores_that_an_artifact_is_gone(make_workload, engine):
    entry = _gone_entry(make_workload())
    reconcile_all()
    entry.refresh_from_db()
    assert entry.artifact_available is False and entry.artifact_checked_at is not None


@pytest.mark.docker
def test_the_reconcile_pass_rechecks_only_entries_never_checked_or_stale(make_workload, engine):
    entry = _gone_entry(make_workload())
    reconcile_all()
    Deploy.objects.filter(pk=entry.pk).update(artifact_available=True)
    reconcile_all()  # checked a moment ago: left as stored
    entry.refresh_from_db()
    assert entry.artifact_available is True


@pytest.mark.docker
@pytest.mark.django_db(transaction=True)
def test_image_cleanup_stores_which_rollback_targets_it_made_unrunnable(
        make_workload, registry, publisher, repo_name, settings):
    settings.TINYFORGE_KEEP_ROLLBACK_IMAGES = 2
    repository = f"{registry.host}/{repo_name}"
    workload = make_workload(spec={"image": f"{repository}:live"})
    # An old entry whose only way back is the local image (its registry is unreachable).
    stranded = _gone_entry(workload)
    deploys = []
    for version in (1, 2, 3):
        publisher.publish(repository, version)
        deploys.append(dispatch(workload, "manual"))
    Deploy.objects.filter(pk=stranded.pk).update(
        pinned={**stranded.pinned, "image_id": deploys[0].pinned["image_id"]})
    call_command("cleanup_images")
    assert tf_engine.inspect_image(deploys[0].pinned["image_id"]) is None
    stranded.refresh_from_db()
    deploys[0].refresh_from_db()
    assert stranded.artifact_available is False and stranded.artifact_checked_at is not None
    # v1 can still be pulled by its digest: a rollback stays possible
    assert deploys[0].artifact_available is True and deploys[0].artifact_checked_at is not None
