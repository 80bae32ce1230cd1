"""A renamed git workload: images are tagged by its engine key, the old container is replaced."""
import subprocess

import pytest

from apps.deploys.dispatch import dispatch
from apps.workloads import actions
from apps.workloads import engine as tf_engine
from tests.support import dockerlab, gitrepos

pytestmark = [pytest.mark.docker, pytest.mark.django_db(transaction=True)]


def image_tags(image_id):
    return subprocess.run(["docker", "image", "inspect", "-f", "{{json .RepoTags}}", image_id],
                          check=True, capture_output=True, text=True).stdout


def test_a_renamed_git_workload_builds_under_its_engine_key_and_replaces_its_container(
    make_workload, registry, settings, tmp_path
):
    settings.TINYFORGE_WORK_DIR = tmp_path / "work"
    base = f"{registry.host}/tftest/identity-base:1"
    dockerlab.build_base_image(base, tmp_path)
    repo = gitrepos.web_repo(tmp_path / "repo", base)
    gitrepos.commit_page(repo, "git identity 1")
    port = dockerlab.free_port()
    workload = make_workload(name="git-before", kind="git", spec={
        "repo": str(repo), "ref": "main", "ports": [f"127.0.0.1:{port}:8080"]})
    built = []
    try:
        first = dispatch(workload, "manual")
        assert first.status == "succeeded", first.log
        built.append(first.pinned["image_id"])
        workload = actions.update_workload(workload, {"name": "git-after"})
        commit = gitrepos.commit_page(repo, "git identity 2")
        second = dispatch(workload, "manual")
        assert second.status == "succeeded", second.log
        built.append(second.pinned["image_id"])

        assert dockerlab.wait_for_http(f"http://127.0.0.1:{port}/", "git identity 2")
        [container] = tf_engine.list_containers({
            "tinyforge.instance": settings.TINYFORGE_INSTANCE,
            "tinyforge.workload": str(workload.pk)})
        assert container.labels["tinyforge.deploy"] == str(second.pk)
        tags = image_tags(second.pinned["image_id"])
        assert f"tinyforge/{workload.engine_key}:{commit[:12]}" in tags
        assert "git-before" not in tags and "git-after" not in tags
    finally:
        actions.delete_workload(workload)
        for image_id in built:
            dockerlab.remove_image(image_id)
        dockerlab.remove_image(base)
