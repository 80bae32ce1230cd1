"""A failed deploy says why in terms people can act on: the exit code, the port and who holds
it, the missing image — as typed facts, never raw engine text — in the API, CLI and admin."""
import socket

import pytest
from django.core.management import CommandError, call_command

from apps.deploys.failures import describe, safe_detail
from apps.workloads.engine import port_in_use
from tests.support import dockerlab


def create(client, name, image, ports, **spec):
    created = client.post("/workloads", {
        "name": name, "kind": "image", "spec": {"image": image, "ports": ports, **spec},
    })
    assert created.status_code == 201, created.data
    return created.data["id"]


def deploy(client, workload_id):
    response = client.post(f"/workloads/{workload_id}/deploy")
    assert response.status_code == 202, response.data
    fetched = client.get(f"/deploys/{response.data['id']}")
    assert fetched.status_code == 200
    return fetched.data


def cli_failure(name):
    with pytest.raises(CommandError) as failed:
        call_command("deploy", name, stdout=open("/dev/null", "w"))
    return str(failed.value)


@pytest.mark.docker
@pytest.mark.django_db(transaction=True)
def test_a_container_that_exits_with_3_is_reported_as_exit_code_3_in_api_cli_and_admin(
    as_admin, admin_user, client, registry, publisher, repo_name
):
    image = f"{registry.host}/{repo_name}:live"
    publisher.publish(f"{registry.host}/{repo_name}", 1)
    workload_id = create(as_admin, "crasher", image, [f"127.0.0.1:{dockerlab.free_port()}:8080"],
                         command="sh -c 'exit 3'", restart="no")
    failed = deploy(as_admin, workload_id)
    assert failed["status"] == "failed" and failed["error_code"] == "start_failed"
    assert failed["error_detail"] == {"exit_code": 3}
    assert failed["error_explanation"] == "The container exited with code 3."
    listed = as_admin.get(f"/workloads/{workload_id}/deploys").data
    rows = listed["items"] if isinstance(listed, dict) else listed
    assert rows[0]["error_detail"] == {"exit_code": 3}
    assert "exited with code 3" in cli_failure("crasher")
    client.force_login(admin_user)
    page = client.get("/admin/deploys/deploy/").content.decode()
    assert "The container exited with code 3." in page


@pytest.mark.docker
@pytest.mark.django_db(transaction=True)
def test_a_port_held_by_a_process_outside_tinyforge_is_named_as_that_port(
    as_admin, registry, publisher, repo_name
):
    image = f"{registry.host}/{repo_name}:live"
    publisher.publish(f"{registry.host}/{repo_name}", 1)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        workload_id = create(as_admin, "blocked", image, [f"127.0.0.1:{port}:8080"])
        failed = deploy(as_admin, workload_id)
        cli = cli_failure("blocked")
    assert failed["status"] == "failed" and failed["error_code"] == "start_failed"
    assert failed["error_detail"] == {"port": port}
    assert failed["error_explanation"] == f"Port {port} is already in use by another process."
    assert f"Port {port} is already in use" in cli


@pytest.mark.docker
@pytest.mark.django_db(transaction=True)
def test_a_port_still_held_by_another_workloads_container_names_that_workload(
    as_admin, registry, publisher, repo_name
):
    image = f"{registry.host}/{repo_name}:live"
    publisher.publish(f"{registry.host}/{repo_name}", 1)
    port, later = dockerlab.free_port(), dockerlab.free_port()
    holder = create(as_admin, "holder", image, [f"127.0.0.1:{port}:8080"])
    assert deploy(as_admin, holder)["status"] == "succeeded"
    # The holder's spec moves to another port, but its running container still has the old one
    # until its next deploy: saving a workload on the old port is allowed, deploying it is not.
    moved = as_admin.patch(f"/workloads/{holder}", {
        "spec": {"image": image, "ports": [f"127.0.0.1:{later}:8080"]}})
    assert moved.status_code == 200, moved.data
    newcomer = create(as_admin, "newcomer", image, [f"127.0.0.1:{port}:8080"])
    failed = deploy(as_admin, newcomer)
    assert failed["error_code"] == "start_failed"
    assert failed["error_detail"] == {"port": port, "holder_id": holder}
    assert failed["error_explanation"] == (
        f"Port {port} is already in use by workload 'holder' (#{holder}).")
    assert dockerlab.wait_for_http(f"http://127.0.0.1:{port}/", "version 1")


@pytest.mark.docker
@pytest.mark.django_db(transaction=True)
def test_a_tag_missing_from_the_registry_is_named(as_admin, registry, publisher, repo_name):
    repository = f"{registry.host}/{repo_name}"
    publisher.publish(repository, 1)
    workload_id = create(as_admin, "typo", f"{repository}:no-such-tag",
                         [f"127.0.0.1:{dockerlab.free_port()}:8080"])
    failed = deploy(as_admin, workload_id)
    assert failed["error_code"] == "pull_failed"
    assert failed["error_detail"] == {"missing": f"{repository}:no-such-tag"}
    assert failed["error_explanation"] == f"The image {repository}:no-such-tag does not exist."
    assert f"{repository}:no-such-tag does not exist" in cli_failure("typo")


# --- saving a workload on a port another workload publishes: 409 -----------------------------

def test_a_port_another_workload_publishes_is_a_409_naming_that_workload(as_admin, db):
    first = create(as_admin, "first", "127.0.0.1:1/a/b:live", ["127.0.0.1:18080:8080"])
    clash = as_admin.post("/workloads", {"name": "second", "kind": "image", "spec": {
        "image": "127.0.0.1:1/a/b:live", "ports": ["18080:80"]}})
    assert clash.status_code == 409, clash.data
    assert "first" in clash.data["detail"] and f"#{first}" in clash.data["detail"]
    assert clash.data["field"] == "spec.ports"


def test_a_patch_onto_a_taken_port_is_a_409_and_changes_nothing(as_admin, db):
    create(as_admin, "owner", "127.0.0.1:1/a/b:live", ["0.0.0.0:18081:8080"])
    other = create(as_admin, "other", "127.0.0.1:1/a/b:live", ["127.0.0.1:18082:8080"])
    clash = as_admin.patch(f"/workloads/{other}", {"spec": {
        "image": "127.0.0.1:1/a/b:live", "ports": ["127.0.0.1:18081:8080"]}})
    assert clash.status_code == 409 and "owner" in clash.data["detail"]
    assert as_admin.get(f"/workloads/{other}").data["spec"]["ports"] == ["127.0.0.1:18082:8080"]


def test_the_same_port_on_other_addresses_or_protocols_or_its_own_workload_is_fine(as_admin, db):
    mine = create(as_admin, "lo", "127.0.0.1:1/a/b:live", ["127.0.0.1:18083:8080"])
    create(as_admin, "lo2", "127.0.0.1:1/a/b:live", ["127.0.0.2:18083:8080"])
    create(as_admin, "udp", "127.0.0.1:1/a/b:live", ["18083:53/udp"])
    create(as_admin, "random", "127.0.0.1:1/a/b:live", ["8080"])
    again = as_admin.patch(f"/workloads/{mine}", {"spec": {
        "image": "127.0.0.1:1/a/b:live", "ports": ["127.0.0.1:18083:9090"]}})
    assert again.status_code == 200, again.data


# --- the detail keeps typed facts only ---------------------------------------------------------

def test_detail_keeps_only_known_keys_with_their_types():
    raw = {"exit_code": 3, "port": 8080, "holder_id": 7, "missing": "reg:5000/a/b:v1",
           "message": "password=hunter2", "extra": [1]}
    assert safe_detail(raw) == {"exit_code": 3, "port": 8080, "holder_id": 7,
                                "missing": "reg:5000/a/b:v1"}
    assert safe_detail({"exit_code": "3", "port": 70000, "missing": "a b\nsecret"}) == {}
    assert safe_detail({"port": True, "exit_code": 2**40}) == {}
    assert safe_detail("not a dict") == {}


def test_describe_a_holder_that_was_deleted_falls_back_to_another_process(db):
    assert describe({"port": 8080, "holder_id": 999}) == (
        "Port 8080 is already in use by another process.")


@pytest.mark.parametrize("text, port", [
    ("driver failed programming external connectivity on endpoint x (abc): Error starting "
     "userland proxy: listen tcp4 127.0.0.1:18080: bind: address already in use", 18080),
    ("driver failed programming external connectivity on endpoint x: Bind for 0.0.0.0:8081 "
     "failed: port is already allocated", 8081),
    ("listen tcp6 [::]:443: bind: address already in use", 443),
    ("container exited with code 1: listening on 8080", None),
    ("Bind for 0.0.0.0:99999 failed: port is already allocated", None),
])
def test_only_a_port_number_is_read_out_of_an_engine_error(text, port):
    assert port_in_use(text) == port
