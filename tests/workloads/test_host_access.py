"""The host access policy: the Docker socket, host paths, privileged mode, host namespaces,
capabilities and devices are refused by default (422 naming the field), for every kind; an
install setting opens them, and then only to superusers (403 for other staff)."""
import json

import pytest

from apps.workloads import actions
from apps.workloads.models import Workload
from tests.support import dockerlab

pytestmark = pytest.mark.django_db

IMAGE = "127.0.0.1:5000/team/web:live"


def image_workload(**extra):
    return {"name": "web", "kind": "image", "spec": {"image": IMAGE}, **extra}


def compose_workload(service_yaml, top_level=""):
    text = f"services:\n  web:\n    image: {IMAGE}\n{service_yaml}{top_level}"
    return {"name": "stack", "kind": "compose", "spec": {"compose": text}}


def assert_refused(response, field, status=422):
    assert response.status_code == status, (response.status_code, response.data)
    assert response.data["detail"].startswith(field + ":"), response.data
    assert field in response.data["errors"]
    assert not Workload.objects.exists()


# --- refused by default -------------------------------------------------------------------------

@pytest.mark.parametrize("host_path", [
    "/var/run/docker.sock", "/run/docker.sock", "/var/run", "/", "/etc", "/srv/../etc",
    "//etc", "/home/someone/containerd.sock",
])
def test_a_host_bind_mount_is_refused_by_default_naming_the_volume(as_admin, host_path):
    response = as_admin.post("/workloads", image_workload(
        volumes=[{"host_path": host_path, "mount_path": "/mnt"}]))
    assert_refused(response, "volumes[0].host_path")
    assert "TINYFORGE_ALLOW_HOST_ACCESS" in response.data["detail"]


def test_the_docker_socket_is_named_as_such(as_admin):
    response = as_admin.post("/workloads", image_workload(
        volumes=[{"host_path": "/var/run/docker.sock", "mount_path": "/var/run/docker.sock"}]))
    assert "Docker socket" in response.data["detail"]


@pytest.mark.parametrize("service_yaml,field", [
    ("    privileged: true\n", "privileged"),
    ("    network_mode: host\n", "network_mode"),
    ("    pid: host\n", "pid"),
    ("    ipc: host\n", "ipc"),
    ("    cap_add: [SYS_ADMIN]\n", "cap_add"),
    ("    devices: ['/dev/sda:/dev/sda']\n", "devices"),
    ("    security_opt: ['seccomp:unconfined']\n", "security_opt[0]"),
    ("    volumes: ['/var/run/docker.sock:/var/run/docker.sock']\n", "volumes[0]"),
    ("    volumes: ['/:/host:ro']\n", "volumes[0]"),
    ("    volumes: [{type: bind, source: /etc, target: /etc}]\n", "volumes[0]"),
    ("    volumes: ['../../../etc:/x']\n", "volumes[0]"),
    ("    volumes: ['${HOME}:/home']\n", "volumes[0]"),
    ("    volumes: ['~/.ssh:/keys']\n", "volumes[0]"),
    ("    env_file: /etc/shadow\n", "env_file[0]"),
    ("    network_mode: ${MODE}\n", "network_mode"),
])
def test_compose_services_asking_for_the_host_are_refused_naming_the_option(
    as_admin, service_yaml, field
):
    response = as_admin.post("/workloads", compose_workload(service_yaml))
    assert_refused(response, f"spec.compose.services.web.{field}")


@pytest.mark.parametrize("top_level,field", [
    ("volumes:\n  data:\n    driver_opts: {type: none, o: bind, device: /etc}\n",
     "spec.compose.volumes.data.driver_opts.device"),
    ("secrets:\n  key:\n    file: /root/.ssh/id_rsa\n", "spec.compose.secrets.key.file"),
    ("networks:\n  outside:\n    name: host\n    external: true\n",
     "spec.compose.networks.outside"),
])
def test_compose_top_level_host_access_is_refused(as_admin, top_level, field):
    response = as_admin.post("/workloads", compose_workload("", top_level))
    assert_refused(response, field)


@pytest.mark.parametrize("service_yaml", [
    "    volumes: ['data:/data', '/cache', './site:/site:ro']\n",
    "    volumes: [{type: volume, source: data, target: /data}]\n",
    "    network_mode: bridge\n    security_opt: ['no-new-privileges:true']\n",
    "    privileged: false\n    cap_drop: [ALL]\n",
])
def test_ordinary_compose_options_stay_allowed(as_admin, service_yaml):
    response = as_admin.post("/workloads", compose_workload(service_yaml))
    assert response.status_code == 201, response.data


def test_named_volumes_need_no_host_access(as_staff):
    response = as_staff.post("/workloads", image_workload(
        volumes=[{"name": "data", "mount_path": "/data"}]))
    assert response.status_code == 201, response.data


# --- the allowlist ------------------------------------------------------------------------------

def test_staff_may_bind_mount_inside_the_allowlisted_host_paths(as_staff, settings):
    settings.TINYFORGE_HOST_PATHS = ["/srv/tinyforge"]
    response = as_staff.post("/workloads", image_workload(
        volumes=[{"host_path": "/srv/tinyforge/site", "mount_path": "/site"}]))
    assert response.status_code == 201, response.data


@pytest.mark.parametrize("host_path", ["/srv/tinyforge-other", "/srv/tinyforge/../../etc", "/srv"])
def test_the_allowlist_does_not_reach_outside_itself(as_staff, settings, host_path):
    settings.TINYFORGE_HOST_PATHS = ["/srv/tinyforge"]
    response = as_staff.post("/workloads", image_workload(
        volumes=[{"host_path": host_path, "mount_path": "/site"}]))
    assert_refused(response, "volumes[0].host_path")


def test_an_allowlisted_directory_never_opens_the_docker_socket(as_admin, settings):
    settings.TINYFORGE_HOST_PATHS = ["/var/run", "/"]
    response = as_admin.post("/workloads", image_workload(
        volumes=[{"host_path": "/var/run/docker.sock", "mount_path": "/sock"}]))
    assert_refused(response, "volumes[0].host_path")


def test_a_compose_bind_mount_inside_the_allowlist_is_allowed(as_staff, settings):
    settings.TINYFORGE_HOST_PATHS = ["/srv/tinyforge"]
    response = as_staff.post("/workloads", compose_workload(
        "    volumes: ['/srv/tinyforge/site:/site:ro']\n"))
    assert response.status_code == 201, response.data


# --- the install setting: superusers only -------------------------------------------------------

@pytest.fixture
def host_access_open(settings):
    settings.TINYFORGE_ALLOW_HOST_ACCESS = True


def test_with_host_access_open_a_superuser_may_mount_the_socket_and_run_privileged(
    as_admin, host_access_open
):
    response = as_admin.post("/workloads", compose_workload(
        "    privileged: true\n    volumes: ['/var/run/docker.sock:/var/run/docker.sock']\n"))
    assert response.status_code == 201, response.data
    response = as_admin.post("/workloads", image_workload(
        volumes=[{"host_path": "/etc", "mount_path": "/host-etc", "read_only": True}]))
    assert response.status_code == 201, response.data


def test_with_host_access_open_other_staff_get_403_naming_the_field(as_staff, host_access_open):
    response = as_staff.post("/workloads", compose_workload("    network_mode: host\n"))
    assert_refused(response, "spec.compose.services.web.network_mode", status=403)
    assert "superuser" in response.data["detail"]
    response = as_staff.post("/workloads", image_workload(
        volumes=[{"host_path": "/", "mount_path": "/host"}]))
    assert_refused(response, "volumes[0].host_path", status=403)


def test_the_system_acting_without_a_user_follows_the_install_setting(settings):
    spec = compose_workload("    privileged: true\n")
    with pytest.raises(actions.InvalidInput) as refused:
        actions.create_workload(**spec)
    assert "spec.compose.services.web.privileged" in refused.value.errors
    settings.TINYFORGE_ALLOW_HOST_ACCESS = True
    assert actions.create_workload(**spec, user=None).pk


# --- edits: only what a change adds is checked --------------------------------------------------

def test_staff_may_still_edit_a_workload_that_has_host_access_from_before(
    as_staff, admin_user, settings
):
    settings.TINYFORGE_ALLOW_HOST_ACCESS = True
    workload = actions.create_workload(
        **image_workload(volumes=[{"host_path": "/etc", "mount_path": "/e"}]), user=admin_user)
    settings.TINYFORGE_ALLOW_HOST_ACCESS = False
    response = as_staff.patch(f"/workloads/{workload.pk}", {"title": "Renamed"})
    assert response.status_code == 200, response.data
    response = as_staff.patch(f"/workloads/{workload.pk}", {
        "volumes": [{"host_path": "/etc", "mount_path": "/e"},
                    {"name": "data", "mount_path": "/data"}]})
    assert response.status_code == 200, response.data


def test_a_patch_that_adds_host_access_is_refused_and_changes_nothing(as_staff):
    created = as_staff.post("/workloads", compose_workload("")).data
    response = as_staff.patch(f"/workloads/{created['id']}", {"spec": {
        "compose": f"services:\n  web:\n    image: {IMAGE}\n    privileged: true\n"}})
    assert response.status_code == 422
    assert response.data["detail"].startswith("spec.compose.services.web.privileged:")
    assert "privileged" not in Workload.objects.get(pk=created["id"]).spec["compose"]
    response = as_staff.patch(f"/workloads/{created['id']}", {
        "volumes": [{"host_path": "/root", "mount_path": "/r"}]})
    assert response.status_code == 422
    assert not Workload.objects.get(pk=created["id"]).volumes.exists()


# --- the real engine ----------------------------------------------------------------------------

@pytest.mark.docker
def test_an_allowlisted_bind_mount_reaches_the_container_and_a_refused_one_creates_nothing(
    engine, registry, publisher, repo_name, as_staff, settings, tmp_path
):
    from apps.deploys.dispatch import dispatch

    settings.TINYFORGE_HOST_PATHS = [str(tmp_path)]
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "hello.txt").write_text("from the host")
    repository = f"{registry.host}/{repo_name}"
    publisher.publish(repository, 1)
    created = as_staff.post("/workloads", {
        "name": "bound", "kind": "image", "spec": {"image": f"{repository}:live"},
        "volumes": [{"host_path": str(tmp_path / "site"), "mount_path": "/site",
                     "read_only": True}],
    })
    assert created.status_code == 201, created.data
    deploy = dispatch(Workload.objects.get(pk=created.data["id"]), "manual")
    assert deploy.status == "succeeded", deploy.log
    container = Workload.objects.get(pk=created.data["id"]).containers.get()
    read = dockerlab._docker("exec", container.docker_id, "cat", "/site/hello.txt")
    assert read.stdout == "from the host"

    refused = as_staff.post("/workloads", {
        "name": "escape", "kind": "image", "spec": {"image": f"{repository}:live"},
        "volumes": [{"host_path": "/var/run/docker.sock", "mount_path": "/sock"}],
    })
    assert refused.status_code == 422
    assert not Workload.objects.filter(name="escape").exists()
    names = dockerlab._docker("ps", "-a", "--format", "{{.Names}}").stdout.split()
    assert not [name for name in names if "escape" in name]


# --- the admin follows the same policy ----------------------------------------------------------

def admin_form(spec, volumes=()):
    data = {
        "name": "adm", "kind": "compose" if "compose" in spec else "image",
        "spec": json.dumps(spec),
        "env_vars-TOTAL_FORMS": "0", "env_vars-INITIAL_FORMS": "0",
        "volumes-TOTAL_FORMS": str(len(volumes)), "volumes-INITIAL_FORMS": "0",
        "containers-TOTAL_FORMS": "0", "containers-INITIAL_FORMS": "0",
        "Trigger_workloads-TOTAL_FORMS": "0", "Trigger_workloads-INITIAL_FORMS": "0",
        "deploys-TOTAL_FORMS": "0", "deploys-INITIAL_FORMS": "0",
    }
    for index, host_path in enumerate(volumes):
        data[f"volumes-{index}-host_path"] = host_path
        data[f"volumes-{index}-mount_path"] = "/mnt"
    return data


def test_the_admin_refuses_a_privileged_compose_service_by_default(admin_client):
    response = admin_client.post("/admin/workloads/workload/add/", admin_form(
        {"compose": f"services:\n  web:\n    image: {IMAGE}\n    privileged: true\n"}))
    assert response.status_code == 200
    assert "spec.compose.services.web.privileged" in response.content.decode()
    assert not Workload.objects.exists()


def test_the_admin_refuses_a_docker_socket_volume_by_default(admin_client):
    response = admin_client.post("/admin/workloads/workload/add/", admin_form(
        {"image": IMAGE}, volumes=["/var/run/docker.sock"]))
    assert response.status_code == 200
    assert "volumes[0].host_path" in response.content.decode()
    assert not Workload.objects.exists()


def test_with_host_access_open_the_admin_lets_a_superuser_save_a_bind_mount(
    admin_client, host_access_open
):
    response = admin_client.post("/admin/workloads/workload/add/", admin_form(
        {"image": IMAGE}, volumes=["/etc"]))
    assert response.status_code == 302, response.content.decode()[:1500]
    assert Workload.objects.get().volumes.get().host_path == "/etc"
