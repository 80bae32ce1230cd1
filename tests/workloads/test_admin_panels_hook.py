"""Other apps extend the workload admin page through apps.workloads.admin_panels only."""
from pathlib import Path

import apps.workloads
from apps.workloads import admin_panels
from apps.workloads.admin import ContainerInline, EnvVarInline, VolumeInline, WorkloadAdmin

WORKLOADS = Path(apps.workloads.__file__).parent




def test_nothing_rewrites_the_workload_admin_class():
    assert WorkloadAdmin.inlines == [EnvVarInline, VolumeInline, ContainerInline]
    assert WorkloadAdmin.change_form_template == "admin/workloads/workload/change_form.html"


def test_the_deploys_and_metrics_apps_register_through_the_hook():
    names = [cls.__name__ for cls in admin_panels.inlines()]
    assert names == ["TriggerBindingInline"]
    assert [panel.name for panel in admin_panels.panels()] == [
        "status", "logs", "deploy-history", "metrics"]
    assert admin_panels.action(admin_panels.DEPLOY_ACTION) is not None


def test_a_registered_panel_renders_on_the_page_with_its_static_files(
        admin_client, make_workload, monkeypatch, settings, tmp_path):
    monkeypatch.setattr(admin_panels, "_panels", dict(admin_panels._panels))
    (tmp_path / "probe.html").write_text('<div id="probe-panel">{{ who }}</div>')
    settings.TEMPLATES = [{**settings.TEMPLATES[0],
                           "DIRS": [*settings.TEMPLATES[0].get("DIRS", []), str(tmp_path)]}]
    seen = []

    def context(request, workload):
        seen.append(workload.pk)
        return {"who": f"panel-for-{workload.name}"}

    admin_panels.register_panel("probe", "probe.html", context, order=1,
                                css=["probe/probe.css"], js=["probe/probe.js"])
    workload = make_workload()
    html = admin_client.get(f"/admin/workloads/workload/{workload.pk}/change/").content.decode()
    assert f'<div id="probe-panel">panel-for-{workload.name}</div>' in html
    assert html.index("probe-panel") < html.index("tf-metrics-workload")  # order 1 before 10
    assert "/static/probe/probe.css" in html
    assert '<script src="/static/probe/probe.js" defer>' in html
    assert seen == [workload.pk]
    add_page = admin_client.get("/admin/workloads/workload/add/").content.decode()
    assert "probe-panel" not in add_page and seen == [workload.pk]


def test_a_registered_action_is_offered_on_the_workload_list(
        admin_client, make_workload, monkeypatch):
    monkeypatch.setattr(admin_panels, "_actions", dict(admin_panels._actions))
    picked = []
    admin_panels.register_action("probe_action", lambda admin, request, qs: picked.extend(qs),
                                 "Probe the selection")
    workload = make_workload()
    listing = admin_client.get("/admin/workloads/workload/").content.decode()
    assert "Probe the selection" in listing
    admin_client.post("/admin/workloads/workload/", {
        "action": "probe_action", "_selected_action": [workload.pk]})
    assert picked == [workload]
