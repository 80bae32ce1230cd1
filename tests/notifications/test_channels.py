"""Notifications: a failed deploy and an auto-rollback reach the configured channels (a local
webhook receiver checking the signature, Django's locmem mail), never carry a secret, and a
channel that cannot be reached never changes the deploy's outcome."""
import logging
import uuid

import pytest
from django.core import mail
from django.db import connection

from apps.deploys.dispatch import dispatch
from apps.notifications.models import Channel
from apps.notifications.notices import deliver, sample_notice
from tests.support import dockerlab
from tests.support.notify_receiver import Receiver

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "notify-signing-" + uuid.uuid4().hex[:8]
CANARY = "canary" + uuid.uuid4().hex[:12]


@pytest.fixture
def receiver():
    receiving = Receiver(secret=SECRET).start()
    yield receiving
    receiving.stop()


def webhook_channel(receiver, **fields):
    return Channel.objects.create(name=f"hook-{uuid.uuid4().hex[:6]}", kind="webhook",
                                  url=receiver.url, secret=SECRET, **fields)


def failing_workload(make_workload):
    """A workload whose image cannot be pulled, whose reference and secret env hold CANARY:
    the engine's raw error quotes it, so only wording from the code keeps it out."""
    workload = make_workload(spec={"image": f"127.0.0.1:1/{CANARY}/web:live"})
    workload.env_vars.create(key="API_KEY", value=CANARY, secret=True)
    return workload


@pytest.mark.docker
def test_a_failed_deploy_is_posted_signed_in_a_slack_and_discord_shape_without_the_secret(
    engine, make_workload, receiver
):
    channel = webhook_channel(receiver)
    workload = failing_workload(make_workload)
    deploy = dispatch(workload, "manual")
    assert deploy.status == "failed"
    [delivery] = receiver.wait_for(1)
    assert delivery.signature_ok
    assert delivery.headers["x-tinyforge-event"] == "deploy_failed"
    body = delivery.json
    assert body["text"] == body["content"] and f"#{deploy.pk}" in body["text"]
    assert workload.name in body["text"] and deploy.error_code in body["text"]
    assert body["event"] == "deploy_failed" and body["deploy_id"] == deploy.pk
    assert CANARY not in delivery.body.decode()
    channel.refresh_from_db()
    assert channel.last_ok is True and channel.last_result == "HTTP 200"


@pytest.mark.docker
def test_a_failed_deploy_is_mailed_to_every_recipient_of_an_email_channel(
    engine, make_workload
):
    Channel.objects.create(name="ops mail", kind="email",
                           recipients="ops@example.test, oncall@example.test\nlead@example.test")
    workload = failing_workload(make_workload)
    deploy = dispatch(workload, "manual")
    [message] = mail.outbox
    assert message.to == ["ops@example.test", "oncall@example.test", "lead@example.test"]
    assert f"#{deploy.pk}" in message.subject and workload.name in message.subject
    assert deploy.error_code in message.body
    assert CANARY not in message.subject + message.body


@pytest.mark.docker
def test_an_unreachable_channel_changes_nothing_about_the_deploy_and_logs_no_url(
    engine, make_workload, caplog
):
    port = dockerlab.free_port()  # nothing listens there
    url = f"http://127.0.0.1:{port}/hooks/{CANARY}"
    channel = Channel.objects.create(name="down", kind="webhook", url=url)
    workload = failing_workload(make_workload)
    with caplog.at_level(logging.WARNING, logger="tinyforge"):
        deploy = dispatch(workload, "manual")
    assert deploy.status == "failed" and deploy.error_code != "internal"
    channel.refresh_from_db()
    assert channel.last_ok is False and "unreachable" in channel.last_result
    assert any("notification deploy_failed to channel down failed" in record.getMessage()
               for record in caplog.records)
    assert CANARY not in caplog.text and CANARY not in channel.last_result


@pytest.mark.docker
def test_a_receiver_answering_an_error_is_recorded_on_the_channel(engine, make_workload):
    failing = Receiver(secret=SECRET, status=500).start()
    try:
        channel = webhook_channel(failing)
        assert dispatch(failing_workload(make_workload), "manual").status == "failed"
        assert len(failing.wait_for(1)) == 1
    finally:
        failing.stop()
    channel.refresh_from_db()
    assert channel.last_ok is False and "500" in channel.last_result


@pytest.mark.docker
def test_a_disabled_channel_or_one_not_subscribed_to_the_event_gets_nothing(
    engine, make_workload, receiver
):
    webhook_channel(receiver, enabled=False)
    webhook_channel(receiver, on_deploy_failed=False)
    assert dispatch(failing_workload(make_workload), "manual").status == "failed"
    assert receiver.deliveries == []


def test_the_webhook_url_and_secret_are_stored_encrypted(receiver):
    channel = webhook_channel(receiver)
    with connection.cursor() as cursor:
        cursor.execute("SELECT url, secret FROM notifications_channel WHERE id = %s",
                       [channel.pk])
        stored = " ".join(cursor.fetchone())
    assert "token-in-the-url" not in stored and SECRET not in stored
    assert Channel.objects.get(pk=channel.pk).url == receiver.url


def test_a_channel_without_a_secret_sends_no_signature_header(receiver):
    channel = Channel.objects.create(name="unsigned", kind="webhook", url=receiver.url)
    ok, _result = deliver(channel, sample_notice(channel))
    [delivery] = receiver.wait_for(1)
    assert ok and "x-tinyforge-signature-256" not in delivery.headers


@pytest.mark.docker
def test_a_version_that_sickens_after_going_live_is_rolled_back_and_announced(
    make_workload, registry, publisher, repo_name, settings, receiver
):
    settings.TINYFORGE_HEALTH_GRACE = 20
    channel = webhook_channel(receiver, on_deploy_failed=False)
    repository = f"{registry.host}/{repo_name}"
    publisher.publish(repository, 1)
    port = dockerlab.free_port()
    spec = {"image": f"{repository}:live", "ports": [f"127.0.0.1:{port}:8080"]}
    workload = make_workload(spec=spec)
    first = dispatch(workload, "manual")
    publisher.publish(repository, 2)
    workload.spec = {**spec, "auto_rollback": True,
                     "command": ["sh", "-c", "(sleep 2; rm /www/index.html) & "
                                 "exec httpd -f -p 8080 -h /www"],
                     "healthcheck": {"http": {"path": "/", "port": 8080}, "retries": 2,
                                     "interval": 0.5}}
    workload.save()
    second = dispatch(workload, "manual")  # sync cluster: watch and rollback run inline
    rollback = workload.deploys.order_by("-id").first()
    assert rollback.reason == "rollback" and rollback.rollback_of_id == first.pk
    [delivery] = receiver.wait_for(1)
    assert delivery.signature_ok
    body = delivery.json
    assert body["event"] == "auto_rollback"
    assert body["deploy_id"] == second.pk and body["rollback_id"] == rollback.pk
    assert workload.name in body["content"]
    channel.refresh_from_db()
    assert channel.last_ok is True


def test_a_host_down_signal_reaches_only_the_channels_that_want_it(receiver):
    from apps.core import notices

    webhook_channel(receiver)
    webhook_channel(receiver, on_host_down=False)
    notices.host_down.send_robust(sender=None, host="unix:///var/run/docker.sock",
                                  code="engine_down")
    assert len(receiver.deliveries) == 1  # the cluster runs tasks inline in tests
    body = receiver.deliveries[0].json
    assert body["event"] == "host_down" and body["host"] == "unix:///var/run/docker.sock"
    assert "engine_down" in body["text"] and receiver.deliveries[0].signature_ok
