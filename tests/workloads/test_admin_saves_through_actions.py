"""The admin saves workloads through the same actions as the API (issue 8 §1)."""
from apps.workloads import actions
from apps.workloads.models import EventLog, Workload
from tests.support.admin_forms import workload_form


def change_url(workload):
    return f"/admin/workloads/workload/{workload.pk}/change/"


def test_a_chain_cycle_saved_in_the_admin_is_refused_and_nothing_is_saved(
    admin_client, make_workload
):
    first, second = make_workload(name="first"), make_workload(name="second")
    actions.set_chain(first, [second.pk])

    response = admin_client.post(change_url(second), workload_form(
        second, name="second-renamed", chain=[first.pk]))

    assert response.status_code == 200
    assert "cycle" in response.content.decode()
    second = Workload.objects.get(pk=second.pk)
    assert second.name == "second" and list(second.chain.all()) == []
    assert not EventLog.objects.filter(workload=second, kind="updated").exists()


def test_a_rename_in_the_admin_goes_through_the_actions_and_keeps_the_engine_names(
    admin_client, make_workload
):
    workload = make_workload(name="shop", volumes=[{"name": "data", "mount_path": "/data"}])
    key, volume = workload.engine_key, workload.volumes.get().docker_name

    response = admin_client.post(change_url(workload), workload_form(
        workload, name="shop-renamed", volumes=[{"name": "data", "mount_path": "/data"}]))

    assert response.status_code == 302, response.content.decode()[:3000]
    workload = Workload.objects.get(pk=workload.pk)
    assert workload.name == "shop-renamed" and workload.engine_key == key
    assert workload.volumes.get().docker_name == volume
    assert EventLog.objects.filter(workload=workload, kind="updated").exists()


def test_a_workload_added_in_the_admin_is_created_by_the_action(admin_client, db):
    response = admin_client.post("/admin/workloads/workload/add/", workload_form(
        name="fresh", volumes=[{"name": "data", "mount_path": "/data"}]))

    assert response.status_code == 302, response.content.decode()[:3000]
    workload = Workload.objects.get(name="fresh")
    assert workload.engine_key and workload.volumes.get().engine_name.endswith("-data")
    assert EventLog.objects.filter(workload=workload, kind="created").exists()


def test_a_volume_the_actions_refuse_is_a_form_error_and_nothing_is_added(admin_client, db):
    response = admin_client.post("/admin/workloads/workload/add/", workload_form(
        name="fresh", volumes=[{"name": "Not A Name", "mount_path": "/data"}]))

    assert response.status_code == 200
    assert "volumes[0].name" in response.content.decode()
    assert not Workload.objects.filter(name="fresh").exists()
