"""The admin as a user sees it, in headless Chromium at 1366x768, in English and Russian:
the status header follows a deploy without a reload, the log panel follows the container's
output (secrets masked), and no page is wider than the window. Screenshots in test-artifacts/.
"""
import pytest

from apps.core.crypto import MASK
from apps.deploys.dispatch import dispatch
from apps.deploys.models import Reason, Status
from apps.workloads import actions
from tests.support import dockerlab
from tests.support.browser import (
    DEADLINE_MS,
    admin_browser,
    horizontal_overflow,
    log_in,
    screenshot,
)
from tests.support.fleet import seed_fleet
from tests.support.talkers import SECRET, build_talker_image, deploy_talker, say

pytestmark = pytest.mark.django_db(transaction=True)
LANGUAGES = ["en", "ru"]


@pytest.fixture(scope="module")
def talker_images(engine, tmp_path_factory):
    tags = [build_talker_image(tmp_path_factory.mktemp("talker")) for _ in range(2)]
    yield tags
    for tag in tags:
        dockerlab.remove_image(tag)


def workload_page(live_server, workload):
    return f"{live_server.url}/admin/workloads/workload/{workload.pk}/change/"


@pytest.mark.docker
@pytest.mark.parametrize("language", LANGUAGES)
def test_the_status_header_shows_the_running_version_and_follows_a_deploy_without_reload(
        language, live_server, admin_user, talker_images):
    first, second = talker_images
    workload = deploy_talker(first, name=f"header-{language}")
    running = workload.deploys.get()
    with admin_browser(language) as page:
        log_in(page, live_server.url, admin_user)
        page.goto(workload_page(live_server, workload))
        header = page.locator("#tf-status")
        page.wait_for_function("() => document.getElementById('tf-status').dataset.refreshed",
                               timeout=DEADLINE_MS)
        assert header.get_attribute("data-state") == "running"
        assert header.get_attribute("data-version") == running.pinned_ref
        assert running.pinned_ref.split(":")[-1][:12] in header.inner_text()
        assert page.locator("#tf-status .tf-copy").is_visible()
        assert page.locator("html").get_attribute("lang") == language
        screenshot(page, f"status-header-{language}-before")

        actions.update_workload(workload, {"spec": {**workload.spec, "image": second}})
        deploy = dispatch(workload, Reason.API)
        assert deploy.status == Status.SUCCEEDED, deploy.log
        assert deploy.pinned_ref != running.pinned_ref
        page.wait_for_function(
            "(ref) => document.getElementById('tf-status').dataset.version === ref",
            arg=deploy.pinned_ref, timeout=DEADLINE_MS)
        assert f"#{deploy.pk}" in header.inner_text()
        assert deploy.pinned_ref.split(":")[-1][:12] in header.inner_text()
        # The history below follows too: the new entry is the one running now.
        page.wait_for_function(
            "(id) => { const mark = document.querySelector('#tf-deploy-history .tf-running-now');"
            " return mark && mark.parentElement.textContent.includes('#' + id); }",
            arg=deploy.pk, timeout=DEADLINE_MS)
        screenshot(page, f"status-header-{language}-after-deploy")


@pytest.mark.docker
def test_a_dashboard_card_follows_a_deploy_without_reload(live_server, admin_user, talker_images):
    first, second = talker_images
    workload = deploy_talker(first, name="card-follows")
    with admin_browser("en") as page:
        log_in(page, live_server.url, admin_user)
        page.goto(f"{live_server.url}/admin/")
        card = f"#tf-dashboard .tf-card[data-workload='{workload.name}']"
        before = page.locator(f"{card} .tf-card-deploy").inner_text()
        assert f"#{workload.deploys.get().pk}" in before

        actions.update_workload(workload, {"spec": {**workload.spec, "image": second}})
        deploy = dispatch(workload, Reason.API)
        assert deploy.status == Status.SUCCEEDED, deploy.log
        page.wait_for_function(
            "([selector, id]) => { const c = document.querySelector(selector);"
            " return c && c.textContent.includes('#' + id); }",
            arg=[f"{card} .tf-card-deploy", deploy.pk], timeout=DEADLINE_MS)
        assert page.locator("#tf-dashboard").get_attribute("data-refreshed")
        assert deploy.pinned_ref.split(":")[-1][:12] in page.locator(card).inner_text()
        screenshot(page, "dashboard-after-deploy")


@pytest.mark.docker
@pytest.mark.parametrize("language", LANGUAGES)
def test_the_log_panel_shows_a_line_printed_after_the_page_opened_with_the_secret_masked(
        language, live_server, admin_user, talker_images):
    workload = deploy_talker(talker_images[0], name=f"logs-{language}")
    with admin_browser(language) as page:
        log_in(page, live_server.url, admin_user)
        page.goto(workload_page(live_server, workload))
        body = page.locator("#tf-logs .tf-logs-body")
        page.wait_for_function(
            "() => document.querySelector('#tf-logs .tf-logs-body').textContent"
            ".includes('booting with key=')", timeout=DEADLINE_MS)
        say(workload, f"printed after the page opened ({language})")
        page.wait_for_function(
            "(text) => document.querySelector('#tf-logs .tf-logs-body').textContent"
            ".includes(text)", arg=f"printed after the page opened ({language})",
            timeout=DEADLINE_MS)
        text = body.inner_text()
        assert "booting with key=" + MASK in text
        assert SECRET not in page.content()
        assert text.count("printed after the page opened") == 1  # followed, not re-read
        page.select_option("#tf-logs-tail", "50")
        page.wait_for_function(
            "() => document.querySelector('#tf-logs .tf-logs-body').textContent"
            ".includes('printed after the page opened')", timeout=DEADLINE_MS)
        screenshot(page, f"log-panel-{language}")


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_admin_page_is_wider_than_a_1366_pixel_window(
        language, live_server, admin_user):
    workloads = seed_fleet(6, deploys_each=12, user=admin_user)
    pages = {
        "index": "/admin/",
        "workloads": "/admin/workloads/workload/",
        "deploys": "/admin/deploys/deploy/",
        "triggers": "/admin/deploys/trigger/",
        "events": "/admin/workloads/eventlog/",
        "containers-and-history": f"/admin/workloads/workload/{workloads[2].pk}/change/",
        "add-workload-form": "/admin/workloads/workload/add/",
    }
    with admin_browser(language) as page:
        log_in(page, live_server.url, admin_user)
        wider = {}
        for name, path in pages.items():
            page.goto(live_server.url + path)
            page.wait_for_load_state("load")
            wider[name] = horizontal_overflow(page)
            screenshot(page, f"fit-1366-{language}-{name}")
        assert wider == {name: 0 for name in pages}


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_workload_form_shows_only_the_selected_kinds_options(
        language, live_server, admin_user):
    with admin_browser(language) as page:
        log_in(page, live_server.url, admin_user)
        page.goto(live_server.url + "/admin/workloads/workload/add/")
        page.wait_for_load_state("load")
        assert page.locator("#id_spec__image__image").is_visible()
        assert not page.locator("#id_spec__git__repo").is_visible()
        assert not page.locator("#id_spec").is_visible()

        page.select_option("#id_kind", "git")
        assert page.locator("#id_spec__git__repo").is_visible()
        assert not page.locator("#id_spec__image__image").is_visible()
        screenshot(page, f"workload-form-git-{language}")

        page.check("input.tf-spec-mode[value='json']")
        assert page.locator("#id_spec").is_visible()
        assert not page.locator("#id_spec__git__repo").is_visible()
        assert horizontal_overflow(page) == 0
