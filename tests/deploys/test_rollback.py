"""Rollback on the real engine and registry, for every source kind, and its guards."""
import pytest
from django.core.management import CommandError, call_command

from apps.deploys.dispatch import dispatch
from apps.deploys.models import Deploy
from apps.workloads import engine as tf_engine
from apps.workloads.models import Container
from tests.support import dockerlab

pytestmark = pytest.mark.django_db(transaction=True)


def image_workload(make_workload, repository, port, **spec):
    return make_workload(spec={"image": f"{repository}:live",
                               "ports": [f"127.0.0.1:{port}:8080"], **spec})


@pytest.mark.docker
def test_rollback_runs_v1s_digest_even_after_the_tag_moved_and_v1_was_removed(
    as_admin, make_workload, registry, publisher, repo_name
):
    repository = f"{registry.host}/{repo_name}"
    v1 = publisher.publish(repository, 1)
    port = dockerlab.free_port()
    workload = image_workload(make_workload, repository, port)
    first = dispatch(workload, "manual")
    v1_image_id = first.pinned["image_id"]
    v2 = publisher.publish(repository, 2)
    assert dispatch(workload, "manual").pinned_ref == v2
    assert dockerlab.wait_for_http(f"http://127.0.0.1:{port}/", "version 2")
    tf_engine.remove_image(v1_image_id, force=True)
    assert tf_engine.inspect_image(v1_image_id) is None
    response = as_admin.post(f"/workloads/{workload.pk}/rollback", {})
    assert response.status_code == 202, response.data
    back = Deploy.objects.get(pk=response.data["id"])
    assert back.status == "succeeded" and back.reason == "rollback"
    assert back.rollback_of_id == first.pk and back.pinned_ref == v1
    assert dockerlab.wait_for_http(f"http://127.0.0.1:{port}/", "version 1")
    assert Container.objects.get(workload=workload).digest == v1
    history = as_admin.get(f"/workloads/{workload.pk}/deploys")
    assert [d["id"] for d in history.data["items"]][0] == back.pk


@pytest.mark.docker
def test_rollback_with_restore_config_brings_back_the_spec_and_env(
    make_workload, registry, publisher, repo_name
):
    repository = f"{registry.host}/{repo_name}"
    publisher.publish(repository, 1)
    port = dockerlab.free_port()
    workload = image_workload(make_workload, repository, port)
    workload.env_vars.create(key="MODE", value="one")
    first = dispatch(workload, "manual")
    workload.env_vars.update(value="two")
    workload.spec = {**workload.spec, "restart": "always"}
    workload.save()
    publisher.publish(repository, 2)
    dispatch(workload, "manual")
    call_command("rollback", workload.name, "--to", str(first.pk), "--restore-config")
    workload.refresh_from_db()
    assert workload.spec["restart"] == "unless-stopped"
    assert workload.env_dict() == {"MODE": "one"}


def test_rollback_guards_answer_404_409_and_403(as_admin, as_viewer, make_workload):
    workload, other = make_workload(), make_workload()
    failed = Deploy.objects.create(workload=workload, reason="api", source_kind="image",
                                   status="failed", error_code="pull_failed")
    foreign = Deploy.objects.create(workload=other, reason="api", source_kind="image",
                                    status="succeeded", pinned={"image": "x", "image_id": "y"})
    url = f"/workloads/{workload.pk}/rollback"
    assert as_admin.post("/workloads/999999/rollback", {}).status_code == 404
    assert as_admin.post(url, {"deploy_id": 999999}).status_code == 404
    assert as_admin.post(url, {"deploy_id": failed.pk}).status_code == 409
    assert as_admin.post(url, {"deploy_id": foreign.pk}).status_code == 409
    assert as_admin.post(url, {}).status_code == 409  # nothing earlier to go back to
    assert as_viewer.post(url, {"deploy_id": failed.pk}).status_code == 403
    assert Deploy.objects.filter(reason="rollback").count() == 0


@pytest.mark.docker
def test_rollback_to_an_artifact_that_is_gone_is_409(
    as_admin, make_workload, registry, publisher, repo_name
):
    workload = make_workload()
    gone = Deploy.objects.create(
        workload=workload, reason="api", source_kind="image", status="succeeded",
        pinned_ref="sha256:" + "0" * 64,
        pinned={"image": f"{registry.host}/{repo_name}@sha256:" + "0" * 64,
                "image_id": "sha256:" + "1" * 64, "digest": "sha256:" + "0" * 64})
    response = as_admin.post(f"/workloads/{workload.pk}/rollback", {"deploy_id": gone.pk})
    assert response.status_code == 409 and "gone" in response.data["detail"]


def test_the_rollback_command_fails_with_one_readable_line(make_workload):
    workload = make_workload()
    with pytest.raises(CommandError, match="no earlier successful deploy"):
        call_command("rollback", workload.name)
    with pytest.raises(CommandError, match="No deploy #4242"):
        call_command("rollback", workload.name, "--to", "4242")


@pytest.mark.docker
def test_rollback_of_a_git_workload_replays_the_earlier_commit(
    make_workload, settings, tmp_path, registry
):
    from tests.support.gitrepos import commit_page, git, remove_git_workload

    settings.TINYFORGE_WORK_DIR = tmp_path / "work"
    base = f"{registry.host}/tftest/base-rb:1"
    dockerlab.build_base_image(base, tmp_path)
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "Dockerfile").write_text(f"FROM {base}\nCOPY index.html /www/index.html\n"
                                     'CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]\n')
    first_commit = commit_page(repo, "git version 1")
    port = dockerlab.free_port()
    workload = make_workload(kind="git", spec={"repo": str(repo),
                                               "ports": [f"127.0.0.1:{port}:8080"]})
    try:
        first = dispatch(workload, "manual")
        commit_page(repo, "git version 2")
        assert dispatch(workload, "manual").status == "succeeded"
        assert dockerlab.wait_for_http(f"http://127.0.0.1:{port}/", "git version 2")
        call_command("rollback", workload.name)
        back = workload.deploys.order_by("-id").first()
        assert back.reason == "rollback" and back.pinned_ref == first_commit
        assert back.pinned["image_id"] == first.pinned["image_id"]  # reused, not rebuilt
        assert dockerlab.wait_for_http(f"http://127.0.0.1:{port}/", "git version 1")
    finally:
        remove_git_workload(workload)
        dockerlab.remove_image(base)


@pytest.mark.docker
def test_rollback_of_a_compose_workload_runs_the_stored_content_with_pinned_digests(
    make_workload, registry, publisher, repo_name, settings, tmp_path
):
    from apps.workloads.sources import get_source

    settings.TINYFORGE_WORK_DIR = tmp_path
    repository = f"{registry.host}/{repo_name}/web"
    v1 = publisher.publish(repository, 1)
    port = dockerlab.free_port()
    compose = (f"services:\n  web:\n    image: {repository}:live\n"
               f"    ports: ['127.0.0.1:{port}:8080']\n")
    workload = make_workload(kind="compose", spec={"compose": compose})
    try:
        first = dispatch(workload, "manual")
        publisher.publish(repository, 2)
        workload.spec = {"compose": compose + "    environment: {V: '2'}\n"}
        workload.save()
        assert dispatch(workload, "manual").status == "succeeded"
        assert dockerlab.wait_for_http(f"http://127.0.0.1:{port}/", "version 2")
        call_command("rollback", workload.name)
        back = workload.deploys.order_by("-id").first()
        assert back.status == "succeeded" and back.rollback_of_id == first.pk, back.log
        assert back.pinned["services"]["web"]["digest"] == v1
        assert dockerlab.wait_for_http(f"http://127.0.0.1:{port}/", "version 1")
    finally:
        get_source("compose").teardown(workload, volumes=True)
