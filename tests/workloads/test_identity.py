"""A workload is its id, never its name (issue 8 §1): renames, deletes and two installs sharing
one engine, on the real engine."""
import pytest

from apps.deploys.dispatch import dispatch
from apps.workloads import actions
from apps.workloads import engine as tf_engine
from apps.workloads.models import Volume, Workload
from apps.workloads.sources import get_source
from apps.workloads.sources.compose import COMPOSE_FILE
from tests.support import dockerlab

pytestmark = [pytest.mark.docker, pytest.mark.django_db(transaction=True)]

ONE_SERVICE = """
services:
  web:
    image: {image}
    ports: ["127.0.0.1:{port}:8080"]
"""


def containers_of(workload_id, instance):
    return tf_engine.list_containers({"tinyforge.instance": instance,
                                      "tinyforge.workload": str(workload_id)})


def test_a_renamed_workload_is_replaced_on_redeploy_keeps_its_volume_data_and_is_deleted(
    as_admin, registry, publisher, repo_name, settings
):
    repository = f"{registry.host}/{repo_name}"
    publisher.publish(repository, 1)
    port = dockerlab.free_port()
    created = as_admin.post("/workloads", {
        "name": "before", "kind": "image",
        "spec": {"image": f"{repository}:live", "ports": [f"127.0.0.1:{port}:8080"]},
        "volumes": [{"name": "data", "mount_path": "/data"}],
    })
    assert created.status_code == 201, created.data
    workload_id = created.data["id"]
    first = as_admin.post(f"/workloads/{workload_id}/deploy").data
    assert first["status"] == "succeeded", first
    [old] = containers_of(workload_id, settings.TINYFORGE_INSTANCE)
    dockerlab.exec_in(old.id, "sh", "-c", "echo kept-through-rename > /data/f")
    volume_name = Volume.objects.get(workload_id=workload_id).docker_name

    renamed = as_admin.patch(f"/workloads/{workload_id}", {"name": "after"})
    assert renamed.status_code == 200 and renamed.data["name"] == "after"
    publisher.publish(repository, 2)
    second = as_admin.post(f"/workloads/{workload_id}/deploy").data

    assert second["status"] == "succeeded", second
    [new] = containers_of(workload_id, settings.TINYFORGE_INSTANCE)
    assert new.id != old.id and new.labels["tinyforge.deploy"] == str(second["id"])
    assert dockerlab.container_ids("tinyforge.workload-name=before",
                                   f"tinyforge.instance={settings.TINYFORGE_INSTANCE}") == []
    assert dockerlab.wait_for_http(f"http://127.0.0.1:{port}/", "version 2")
    assert Volume.objects.get(workload_id=workload_id).docker_name == volume_name
    assert dockerlab.exec_in(new.id, "cat", "/data/f") == "kept-through-rename\n"
    assert "before" not in new.name and "after" not in new.name

    deleted = as_admin.delete(f"/workloads/{workload_id}")
    assert deleted.status_code == 204
    assert containers_of(workload_id, settings.TINYFORGE_INSTANCE) == []
    assert dockerlab.volume_exists(volume_name)  # named volumes outlive a delete, as before


def test_engine_names_hold_the_instance_and_the_id_and_survive_a_rename(make_workload, settings):
    settings.TINYFORGE_INSTANCE = "Blue Team"
    workload = make_workload(name="shop", volumes=[{"name": "data", "mount_path": "/data"}])
    key = workload.engine_key
    assert key.startswith("tf-blue-team-") and f"-{workload.pk}-" in key
    assert "shop" not in key
    assert workload.volumes.get().docker_name == f"{key}-data"
    actions.update_workload(workload, {"name": "shop2", "volumes": [
        {"name": "data", "mount_path": "/srv"}, {"name": "more", "mount_path": "/more"}]})
    workload = Workload.objects.get(pk=workload.pk)
    assert workload.engine_key == key
    names = dict(workload.volumes.values_list("name", "engine_name"))
    assert names == {"data": f"{key}-data", "more": f"{key}-more"}


def test_instance_labels_that_differ_only_in_case_get_different_keys(make_workload, settings):
    settings.TINYFORGE_INSTANCE = "prod"
    lower = make_workload().engine_key
    settings.TINYFORGE_INSTANCE = "Prod"
    upper = make_workload().engine_key
    assert lower.rsplit("-", 2)[0] != upper.rsplit("-", 2)[0]


def test_a_workload_that_gets_a_former_workloads_id_gets_other_engine_names(make_workload):
    """A fresh database numbers from 1 again: it must not adopt what a former install left."""
    former = make_workload(name="former", volumes=[{"name": "data", "mount_path": "/data"}])
    pk, key = former.pk, former.engine_key
    volume = former.volumes.get().docker_name
    Workload.objects.filter(pk=pk).delete()
    fresh = Workload.objects.create(pk=pk, name="fresh", kind="image", spec=former.spec)
    Volume.objects.create(workload=fresh, name="data", mount_path="/data")
    assert fresh.engine_key != key and fresh.volumes.get().docker_name != volume


def test_compose_workloads_of_two_installs_with_the_same_name_and_id_do_not_collide(
    registry, publisher, repo_name, settings, tmp_path
):
    """Two installs (two databases) on one engine both have workload #N "shop"."""
    image = f"{registry.host}/{repo_name}:live"
    publisher.publish(f"{registry.host}/{repo_name}", 1)
    base = settings.TINYFORGE_INSTANCE
    port_a, port_b = dockerlab.free_port(), dockerlab.free_port()
    leftovers = []
    try:
        settings.TINYFORGE_INSTANCE, settings.TINYFORGE_WORK_DIR = f"{base}-a", tmp_path / "a"
        shop_a = Workload.objects.create(
            name="shop", kind="compose",
            spec={"compose": ONE_SERVICE.format(image=image, port=port_a)})
        leftovers.append((shop_a.engine_key, tmp_path / "a" / f"workload-{shop_a.pk}"))
        assert dispatch(shop_a, "manual").status == "succeeded"
        assert dockerlab.wait_for_http(f"http://127.0.0.1:{port_a}/", "version 1")
        [running_a] = containers_of(shop_a.pk, f"{base}-a")
        workload_id = shop_a.pk
        Workload.objects.filter(pk=workload_id).delete()  # install A's rows live elsewhere

        settings.TINYFORGE_INSTANCE, settings.TINYFORGE_WORK_DIR = f"{base}-b", tmp_path / "b"
        shop_b = Workload.objects.create(
            pk=workload_id, name="shop", kind="compose",
            spec={"compose": ONE_SERVICE.format(image=image, port=port_b)})
        leftovers.append((shop_b.engine_key, tmp_path / "b" / f"workload-{shop_b.pk}"))
        assert shop_b.engine_key != shop_a.engine_key
        assert dispatch(shop_b, "manual").status == "succeeded"
        assert dockerlab.wait_for_http(f"http://127.0.0.1:{port_b}/", "version 1")
        assert [c.id for c in containers_of(workload_id, f"{base}-a")] == [running_a.id]

        actions.delete_workload(shop_b)

        assert containers_of(workload_id, f"{base}-b") == []
        [still_a] = containers_of(workload_id, f"{base}-a")
        assert still_a.id == running_a.id and still_a.state == "running"
        assert dockerlab.wait_for_http(f"http://127.0.0.1:{port_a}/", "version 1")
    finally:
        for project, folder in leftovers:
            if (folder / COMPOSE_FILE).exists():
                tf_engine.compose(project, folder / COMPOSE_FILE, "down", "--volumes")
        for suffix in ("a", "b"):
            dockerlab.remove_containers(f"tinyforge.instance={base}-{suffix}")


def test_a_compose_workload_keeps_its_project_and_containers_across_a_rename(
    make_workload, registry, publisher, repo_name, settings, tmp_path
):
    settings.TINYFORGE_WORK_DIR = tmp_path
    publisher.publish(f"{registry.host}/{repo_name}", 1)
    port = dockerlab.free_port()
    workload = make_workload(kind="compose", spec={"compose": ONE_SERVICE.format(
        image=f"{registry.host}/{repo_name}:live", port=port)})
    try:
        assert dispatch(workload, "manual").status == "succeeded"
        [before] = containers_of(workload.pk, settings.TINYFORGE_INSTANCE)
        workload = actions.update_workload(workload, {"name": "renamed-shop"})
        again = dispatch(workload, "manual")
        assert again.status == "succeeded", again.log
        [after] = containers_of(workload.pk, settings.TINYFORGE_INSTANCE)
        assert after.id == before.id  # nothing changed on the engine, so nothing recreated
        assert dockerlab.wait_for_http(f"http://127.0.0.1:{port}/", "version 1")
        actions.delete_workload(workload)
        assert containers_of(workload.pk, settings.TINYFORGE_INSTANCE) == []
    finally:
        get_source("compose").teardown(workload, volumes=True)


def test_a_compose_project_shared_with_another_install_is_neither_taken_over_nor_taken_down(
    make_workload, registry, publisher, repo_name, settings, tmp_path
):
    """Two installs whose specs name the same project: the second refuses to deploy into it,
    and its delete removes only its own containers."""
    image = f"{registry.host}/{repo_name}:live"
    publisher.publish(f"{registry.host}/{repo_name}", 1)
    base = settings.TINYFORGE_INSTANCE
    project = f"shared-{repo_name.rsplit('/', 1)[-1]}"
    port_a, port_b = dockerlab.free_port(), dockerlab.free_port()
    first = None
    try:
        settings.TINYFORGE_INSTANCE, settings.TINYFORGE_WORK_DIR = f"{base}-a", tmp_path / "a"
        first = make_workload(kind="compose", spec={
            "compose": ONE_SERVICE.format(image=image, port=port_a), "project": project})
        assert dispatch(first, "manual").status == "succeeded"
        [running_a] = containers_of(first.pk, f"{base}-a")

        settings.TINYFORGE_INSTANCE, settings.TINYFORGE_WORK_DIR = f"{base}-b", tmp_path / "b"
        second = make_workload(kind="compose", spec={
            "compose": ONE_SERVICE.format(image=image, port=port_b), "project": project})
        refused = dispatch(second, "manual")
        assert refused.status == "failed" and refused.error_code == "start_failed"
        assert "another workload or install" in refused.log
        actions.delete_workload(second)

        [still_a] = containers_of(first.pk, f"{base}-a")
        assert still_a.id == running_a.id and still_a.state == "running"
        assert dockerlab.wait_for_http(f"http://127.0.0.1:{port_a}/", "version 1")
    finally:
        if first is not None:
            settings.TINYFORGE_INSTANCE, settings.TINYFORGE_WORK_DIR = f"{base}-a", tmp_path / "a"
            get_source("compose").teardown(first, volumes=True)
        for suffix in ("a", "b"):
            dockerlab.remove_containers(f"tinyforge.instance={base}-{suffix}")
