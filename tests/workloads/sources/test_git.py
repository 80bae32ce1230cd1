"""The git source: validation, and a real clone-build-run that follows new commits."""

import pytest

from apps.deploys.dispatch import dispatch
from apps.workloads.models import Container
from apps.workloads.sources import SpecError, get_source
from tests.support import dockerlab
from tests.support.gitrepos import commit_page, git, remove_git_workload


def test_it_fills_defaults_for_a_minimal_spec():
    spec = get_source("git").validate({"repo": "https://example.com/r.git"})
    assert (spec["ref"], spec["dockerfile"], spec["context"]) == ("main", "Dockerfile", ".")
    assert spec["build_args"] == {} and spec["restart"] == "unless-stopped"


@pytest.mark.parametrize("spec, field", [
    ({}, "repo"),
    ({"repo": "ftp://x/y"}, "repo"),
    ({"repo": "/srv/r", "dockerfile": "../etc/passwd"}, "dockerfile"),
    ({"repo": "/srv/r", "context": "/abs"}, "context"),
    ({"repo": "/srv/r", "build_args": {"A": 1}}, "build_args"),
    ({"repo": "/srv/r", "ports": ["http"]}, "ports[0]"),
])
def test_it_rejects_bad_git_specs_naming_the_field(spec, field):
    with pytest.raises(SpecError) as caught:
        get_source("git").validate(spec)
    assert field in caught.value.errors


@pytest.fixture
def busybox_base(registry, tmp_path):
    tag = f"{registry.host}/tftest/base:1"
    dockerlab.build_base_image(tag, tmp_path)
    yield tag
    dockerlab.remove_image(tag)


@pytest.fixture
def web_repo(tmp_path, busybox_base):
    repo = tmp_path / "web-repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "Dockerfile").write_text(
        f"FROM {busybox_base}\nARG GREETING=hi\nCOPY index.html /www/index.html\n"
        'CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]\n'
    )
    return repo


@pytest.mark.docker
@pytest.mark.django_db(transaction=True)
def test_a_git_workload_builds_runs_and_picks_up_a_new_commit(
    make_workload, web_repo, settings, tmp_path
):
    settings.TINYFORGE_WORK_DIR = tmp_path / "work"
    first = commit_page(web_repo, "git version 1")
    port = dockerlab.free_port()
    workload = make_workload(kind="git", spec={
        "repo": str(web_repo), "ref": "main", "ports": [f"127.0.0.1:{port}:8080"],
    })
    try:
        deploy = dispatch(workload, "manual")
        assert deploy.status == "succeeded", deploy.log
        assert deploy.pinned_ref == first and deploy.pinned["commit"] == first
        assert "Step 1/" in deploy.log  # build output streamed into the deploy log
        assert dockerlab.wait_for_http(f"http://127.0.0.1:{port}/", "git version 1")
        second = commit_page(web_repo, "git version 2")
        again = dispatch(workload, "manual")
        assert again.status == "succeeded" and again.pinned_ref == second
        assert dockerlab.wait_for_http(f"http://127.0.0.1:{port}/", "git version 2")
        row = Container.objects.get(workload=workload)
        assert row.digest == again.pinned["image_id"]
    finally:
        remove_git_workload(workload)


@pytest.mark.docker
@pytest.mark.django_db(transaction=True)
def test_a_build_failure_fails_the_deploy_and_keeps_the_running_version(
    make_workload, web_repo, settings, tmp_path
):
    settings.TINYFORGE_WORK_DIR = tmp_path / "work"
    commit_page(web_repo, "git version 1")
    port = dockerlab.free_port()
    workload = make_workload(kind="git", spec={
        "repo": str(web_repo), "ports": [f"127.0.0.1:{port}:8080"],
    })
    try:
        assert dispatch(workload, "manual").status == "succeeded"
        (web_repo / "Dockerfile").write_text("FROM scratch\nRUN /bin/false\n")
        commit_page(web_repo, "broken")
        failed = dispatch(workload, "manual")
        assert failed.status == "failed" and failed.error_code == "build_failed"
        assert dockerlab.wait_for_http(f"http://127.0.0.1:{port}/", "git version 1")
    finally:
        remove_git_workload(workload)
