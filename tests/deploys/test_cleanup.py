"""Image cleanup keeps each workload's newest rollback targets and removes the rest."""
import pytest
from django.core.management import call_command
from django_q.models import Schedule

from apps.deploys.dispatch import dispatch
from apps.deploys.ledger import artifact_available
from apps.workloads import engine as tf_engine


def test_cleanup_runs_daily(db):
    assert Schedule.objects.get(name="tinyforge-cleanup-images").schedule_type == "D"


@pytest.mark.docker
@pytest.mark.django_db(transaction=True)
def test_cleanup_keeps_the_k_rollback_targets_and_removes_the_rest(
    make_workload, registry, publisher, repo_name, settings, capsys
):
    settings.TINYFORGE_KEEP_ROLLBACK_IMAGES = 2
    repository = f"{registry.host}/{repo_name}"
    workload = make_workload(spec={"image": f"{repository}:live"})
    deploys = []
    for version in (1, 2, 3):
        publisher.publish(repository, version)
        deploys.append(dispatch(workload, "manual"))
    images = [d.pinned["image_id"] for d in deploys]
    call_command("cleanup_images")
    assert tf_engine.inspect_image(images[0]) is None  # v1: beyond K, unused
    assert tf_engine.inspect_image(images[1]) is not None  # v2: a rollback target
    assert tf_engine.inspect_image(images[2]) is not None  # v3: running
    assert "Images removed: 1," in capsys.readouterr().out
    # v1 is no longer present, but can still be pulled by digest: rollback stays possible
    assert artifact_available(deploys[0])
