"""The admin as the main UI: pages render, secrets stay masked, the deploy button dispatches."""
from apps.deploys.ledger import recheck_stale_availability
from apps.deploys.models import Deploy, Trigger
from apps.workloads.models import EnvVar, RegistryCredential

SECRET = "env-canary-5c1f"


def test_the_workload_pages_render_with_inlines_and_mask_secrets(admin_client, make_workload):
    workload = make_workload(env=[{"key": "TOKEN", "value": SECRET, "secret": True},
                                  {"key": "MODE", "value": "prod"}])
    listing = admin_client.get("/admin/workloads/workload/")
    page = admin_client.get(f"/admin/workloads/workload/{workload.pk}/change/")
    assert listing.status_code == 200 and workload.name in listing.content.decode()
    html = page.content.decode()
    assert page.status_code == 200 and "prod" in html and SECRET not in html
    assert "Deploy now" in html and "trigger" in html.lower()


def test_the_deploy_button_dispatches_with_reason_manual(admin_client, make_workload):
    workload = make_workload()
    response = admin_client.post(f"/admin/workloads/workload/{workload.pk}/deploy/")
    assert response.status_code == 302
    deploy = Deploy.objects.get(workload=workload)
    assert deploy.reason == "manual" and deploy.requested_by.is_superuser


def test_the_deploy_now_action_dispatches_each_selected_workload(admin_client, make_workload):
    a, b = make_workload(), make_workload()
    admin_client.post("/admin/workloads/workload/", {
        "action": "deploy_now", "_selected_action": [a.pk, b.pk]})
    assert set(Deploy.objects.values_list("workload_id", flat=True)) == {a.pk, b.pk}


def test_saving_a_secret_env_with_a_blank_value_keeps_the_stored_one(admin_client, make_workload):
    workload = make_workload(env=[{"key": "TOKEN", "value": SECRET, "secret": True}])
    var = EnvVar.objects.get(workload=workload)
    data = {
        "name": workload.name, "kind": "image", "ref_id": workload.ref_id,
        "spec": '{"image": "127.0.0.1:1/none/web:live"}',
        "title_en": "", "title_ru": "", "description_en": "", "description_ru": "",
        "env_vars-TOTAL_FORMS": "1", "env_vars-INITIAL_FORMS": "1",
        "env_vars-0-id": var.pk, "env_vars-0-workload": workload.pk,
        "env_vars-0-key": "TOKEN", "env_vars-0-value": "", "env_vars-0-secret": "on",
        "volumes-TOTAL_FORMS": "0", "volumes-INITIAL_FORMS": "0",
        "containers-TOTAL_FORMS": "0", "containers-INITIAL_FORMS": "0",
        "Trigger_workloads-TOTAL_FORMS": "0", "Trigger_workloads-INITIAL_FORMS": "0",
        "deploys-TOTAL_FORMS": "0", "deploys-INITIAL_FORMS": "0",
    }
    response = admin_client.post(f"/admin/workloads/workload/{workload.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    # Saved through the actions, which replace the env list as the API does.
    assert EnvVar.objects.get(workload=workload, key="TOKEN").value == SECRET


def test_a_bad_spec_in_the_admin_is_a_form_error_not_a_crash(admin_client, make_workload):
    response = admin_client.post("/admin/workloads/workload/add/", {
        "name": "bad", "kind": "image", "spec": '{"image": ""}',
        "env_vars-TOTAL_FORMS": "0", "env_vars-INITIAL_FORMS": "0",
        "volumes-TOTAL_FORMS": "0", "volumes-INITIAL_FORMS": "0",
        "containers-TOTAL_FORMS": "0", "containers-INITIAL_FORMS": "0",
        "Trigger_workloads-TOTAL_FORMS": "0", "Trigger_workloads-INITIAL_FORMS": "0",
        "deploys-TOTAL_FORMS": "0", "deploys-INITIAL_FORMS": "0",
    })
    assert response.status_code == 200 and "spec.image" in response.content.decode()


def test_registry_and_trigger_pages_never_show_their_secrets(admin_client, db):
    cred = RegistryCredential.objects.create(host="127.0.0.1:5000", username="u",
                                             password="reg-canary-77")
    hook = Trigger.objects.create(name="push", kind="webhook", secret="hook-canary-77")
    for url in (f"/admin/workloads/registrycredential/{cred.pk}/change/",
                f"/admin/deploys/trigger/{hook.pk}/change/", "/admin/deploys/trigger/"):
        html = admin_client.get(url).content.decode()
        assert "canary-77" not in html


def test_the_workload_page_shows_the_history_with_rollback_state(admin_client, make_workload):
    workload = make_workload()
    Deploy.objects.create(workload=workload, reason="api", source_kind="image",
                          status="failed", error_code="auth_failed")
    Deploy.objects.create(workload=workload, reason="cli", source_kind="image",
                          status="succeeded", pinned_ref="sha256:" + "a" * 64,
                          pinned={"image": "127.0.0.1:1/x@sha256:" + "a" * 64,
                                  "digest": "sha256:" + "a" * 64, "image_id": "sha256:" + "b" * 64})
    Deploy.objects.create(workload=workload, reason="cli", source_kind="image",
                          status="succeeded", pinned_ref="sha256:" + "c" * 64,
                          pinned={"image_id": "sha256:" + "c" * 64})
    assert recheck_stale_availability() == 2  # what the reconcile pass does
    html = admin_client.get(f"/admin/workloads/workload/{workload.pk}/change/").content.decode()
    assert "auth_failed" in html and "aaaaaaaaaaaa" in html
    assert "artifact gone" in html  # neither present nor pullable: no rollback button


def test_the_rollback_confirmation_refuses_a_failed_entry(admin_client, make_workload):
    workload = make_workload()
    failed = Deploy.objects.create(workload=workload, reason="api", source_kind="image",
                                   status="failed", error_code="pull_failed")
    page = admin_client.get(f"/admin/deploys/deploy/{failed.pk}/rollback/")
    assert page.status_code == 200 and workload.name in page.content.decode()
    response = admin_client.post(f"/admin/deploys/deploy/{failed.pk}/rollback/", follow=True)
    assert "did not succeed" in response.content.decode()
    assert not Deploy.objects.filter(reason="rollback").exists()
