"""The host form in the admin saves through the same checks as the API (apps.workloads.hosts)."""
import pytest

from apps.workloads import hosts

pytestmark = pytest.mark.django_db


def local_form(**changes):
    return {"name": "local", "engine_url": "", "tls_ca": "", "tls_cert": "", "tls_key": "",
            "ssh_key": "", "proxy_admin": "", "max_deploys": "0", **changes}


def test_staff_limit_the_local_hosts_deploys_from_the_admin(admin_client):
    host = hosts.local_host()
    url = f"/admin/workloads/host/{host.pk}/change/"
    assert 'name="max_deploys"' in admin_client.get(url).content.decode()
    response = admin_client.post(url, local_form(max_deploys="2"))
    assert response.status_code == 302, response.content.decode()[-2000:]
    host.refresh_from_db()
    assert host.max_deploys == 2


def test_a_limit_out_of_range_is_shown_next_to_its_field_and_nothing_changes(admin_client):
    host = hosts.local_host()
    response = admin_client.post(f"/admin/workloads/host/{host.pk}/change/",
                                 local_form(max_deploys="70"))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "max_deploys" in errors and "64" in str(errors["max_deploys"])
    host.refresh_from_db()
    assert host.max_deploys == 0
