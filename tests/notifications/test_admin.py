"""Channels in the admin: the URL and secret are write-only, and "send test" delivers now."""
import uuid

import pytest
from django.test import Client

from apps.notifications.models import Channel
from tests.support.notify_receiver import Receiver

pytestmark = pytest.mark.django_db

SECRET = "admin-signing-" + uuid.uuid4().hex[:8]
CHANGELIST = "/admin/notifications/channel/"


@pytest.fixture
def receiver():
    receiving = Receiver(secret=SECRET).start()
    yield receiving
    receiving.stop()


@pytest.fixture
def browser(admin_user):
    client = Client()
    client.force_login(admin_user)
    return client


def form(**changes):
    data = {"name": "chat", "kind": "webhook", "enabled": "on", "on_deploy_failed": "on",
            "on_auto_rollback": "on", "on_host_down": "on", "recipients": "", "url": "",
            "secret": ""}
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def test_a_webhook_channel_added_in_the_admin_never_shows_its_url_or_secret_again(
    browser, receiver
):
    response = browser.post(CHANGELIST + "add/", form(url=receiver.url, secret=SECRET))
    assert response.status_code == 302, response.content.decode()[:2000]
    channel = Channel.objects.get(name="chat")
    assert channel.url == receiver.url and channel.secret == SECRET
    page = browser.get(f"{CHANGELIST}{channel.pk}/change/").content.decode()
    assert "token-in-the-url" not in page and SECRET not in page
    assert "leave blank to keep it" in page


def test_saving_with_the_write_only_fields_blank_keeps_them(browser, receiver):
    channel = Channel.objects.create(name="chat", kind="webhook", url=receiver.url,
                                     secret=SECRET)
    response = browser.post(f"{CHANGELIST}{channel.pk}/change/", form(name="chat-renamed"))
    assert response.status_code == 302
    channel.refresh_from_db()
    assert channel.name == "chat-renamed"
    assert channel.url == receiver.url and channel.secret == SECRET


def test_a_webhook_channel_needs_an_http_url_and_an_email_channel_addresses(browser):
    response = browser.post(CHANGELIST + "add/", form(url="ftp://example.test/x"))
    assert response.status_code == 200 and "http:// or https:// URL" in response.content.decode()
    response = browser.post(CHANGELIST + "add/", form(kind="email", recipients="not-an-address"))
    assert response.status_code == 200 and "is not an e-mail address" in response.content.decode()
    assert not Channel.objects.exists()


def test_send_test_delivers_a_signed_test_notice_and_reports_the_result(browser, receiver):
    channel = Channel.objects.create(name="chat", kind="webhook", url=receiver.url,
                                     secret=SECRET)
    response = browser.post(CHANGELIST, {"action": "send_test",
                                         "_selected_action": [channel.pk]}, follow=True)
    [delivery] = receiver.wait_for(1)
    assert delivery.signature_ok and delivery.json["event"] == "test"
    assert "Test sent to chat: HTTP 200." in response.content.decode()
    channel.refresh_from_db()
    assert channel.last_ok is True


def test_send_test_to_an_unreachable_channel_reports_the_failure_without_its_url(browser):
    from tests.support import dockerlab

    url = f"http://127.0.0.1:{dockerlab.free_port()}/hooks/secret-path-token"
    channel = Channel.objects.create(name="down", kind="webhook", url=url)
    response = browser.post(CHANGELIST, {"action": "send_test",
                                         "_selected_action": [channel.pk]}, follow=True)
    page = response.content.decode()
    assert "Test to down failed" in page and "secret-path-token" not in page
