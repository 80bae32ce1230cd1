"""From a signal of ``apps.core.notices`` to one queued delivery per channel that wants it.

The receivers only word the notice and queue it (after commit, on the django-q2 cluster): the
deploy that sent the signal never waits for a mail server or a webhook, and a receiver never
raises into it. ``deliver`` does the sending, records the outcome on the channel and logs a
failure (masked); it is also what the admin's "send test" calls.
"""
import logging
from dataclasses import asdict, dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from apps.core import notices as signals
from apps.core.crypto import mask, registered_secret_values
from apps.notifications.channels import DeliveryError, get_channel_kind
from apps.notifications.models import Channel, Event

log = logging.getLogger("tinyforge.notifications")


@dataclass
class Notice:
    event: str
    title: str
    text: str
    workload: str = ""
    workload_id: int | None = None
    deploy_id: int | None = None
    rollback_id: int | None = None
    code: str = ""
    extra: dict = field(default_factory=dict)

    def facts(self):
        """The structured part of a webhook body (no free text from the engine)."""
        facts = {"event": self.event, "title": self.title, "workload": self.workload,
                 "workload_id": self.workload_id, "deploy_id": self.deploy_id}
        if self.rollback_id is not None:
            facts["rollback_id"] = self.rollback_id
        if self.code:
            facts["code"] = self.code
        return {**facts, **self.extra}

    def as_dict(self):
        return asdict(self)


def _link(workload_id):
    base = getattr(settings, "TINYFORGE_PUBLIC_URL", "")
    if not base or workload_id is None:
        return ""
    return f"{base.rstrip('/')}/admin/workloads/workload/{workload_id}/change/"


def _with_link(text, workload_id):
    link = _link(workload_id)
    return f"{text}\n{link}" if link else text


def deploy_failed_notice(*, workload_id, workload, deploy_id, code, reason="", **_ignored):
    from apps.deploys.models import ERROR_MESSAGES

    title = _("TinyForge: deploy #%(id)s of %(name)s failed") % {"id": deploy_id,
                                                                "name": workload}
    text = _("Deploy #%(id)s of %(name)s failed (%(code)s): %(message)s") % {
        "id": deploy_id, "name": workload, "code": code,
        "message": ERROR_MESSAGES.get(code, code)}
    return Notice(Event.DEPLOY_FAILED, title, _with_link(text, workload_id), workload,
                  workload_id, deploy_id, code=code)


def auto_rollback_notice(*, workload_id, workload, deploy_id, rollback_id, status,
                         **_ignored):
    from apps.deploys.models import Status

    title = _("TinyForge: %(name)s was rolled back") % {"name": workload}
    status = Status(status).label if status in Status.values else status
    text = _("Deploy #%(id)s of %(name)s turned unhealthy after going live; rollback "
             "#%(rollback)s: %(status)s.") % {"id": deploy_id, "name": workload,
                                              "rollback": rollback_id, "status": status}
    return Notice(Event.AUTO_ROLLBACK, title, _with_link(text, workload_id), workload,
                  workload_id, deploy_id, rollback_id=rollback_id)


def host_down_notice(*, host, code, **_ignored):
    title = _("TinyForge: the Docker host %(host)s is unreachable") % {"host": host}
    text = _("The Docker host %(host)s does not answer (%(code)s); deploys wait for it.") % {
        "host": host, "code": code}
    return Notice(Event.HOST_DOWN, title, text, code=code, extra={"host": host})


def sample_notice(channel):
    title = _("TinyForge: test notification")
    text = _("This is a test from TinyForge to the channel %(name)s. If you can read it, "
             "notifications arrive.") % {"name": channel.name}
    return Notice(Event.TEST, title, text)


def _worded(builder, kwargs):
    with translation.override(settings.LANGUAGE_CODE):
        return builder(**kwargs)


def announce(event, builder):
    """A signal receiver queuing ``builder``'s notice for each channel that wants ``event``."""

    def receiver(sender, **kwargs):
        try:
            channel_ids = list(Channel.objects.filter(enabled=True, **{f"on_{event}": True})
                               .values_list("pk", flat=True))
            if not channel_ids:
                return
            notice = _worded(builder, kwargs).as_dict()
            for pk in channel_ids:
                transaction.on_commit(lambda pk=pk: _enqueue(pk, notice))
        except Exception:  # a notification never fails what it reports on
            log.exception("could not queue the %s notification", event)

    receiver.__name__ = f"announce_{event}"
    return receiver


def _enqueue(channel_id, notice):
    from django_q.tasks import async_task

    try:
        async_task("apps.notifications.tasks.deliver_notice", channel_id, notice,
                   task_name=f"notify-{channel_id}-{notice['event']}-{notice['deploy_id']}")
    except Exception:
        log.exception("could not queue a notification for channel %s", channel_id)


RECEIVERS = {
    signals.deploy_failed: announce(Event.DEPLOY_FAILED, deploy_failed_notice),
    signals.auto_rolled_back: announce(Event.AUTO_ROLLBACK, auto_rollback_notice),
    signals.host_down: announce(Event.HOST_DOWN, host_down_notice),
}


def connect():
    for signal, receiver in RECEIVERS.items():
        signal.connect(receiver, dispatch_uid=f"tinyforge-notify-{receiver.__name__}")


def deliver(channel, notice):
    """Send ``notice`` to ``channel`` now; record and return (ok, result). Never raises."""
    notice.text = mask(notice.text, _secrets())
    notice.title = mask(notice.title, _secrets())
    try:
        kind = get_channel_kind(channel.kind)
        kind.validate(channel)
        ok, result = True, kind.send(channel, notice)
    except DeliveryError as exc:
        ok, result = False, str(exc)
    except Exception as exc:  # a bug in a plugin: recorded like a failed delivery
        ok, result = False, _("internal error: %(error)s") % {"error": type(exc).__name__}
    secrets = [channel.url, channel.secret, *_secrets()]
    result = mask(str(result), secrets)[:500]
    if not ok:
        log.warning("notification %s to channel %s failed: %s", notice.event, channel.name,
                    result)
    Channel.objects.filter(pk=channel.pk).update(last_attempt_at=timezone.now(), last_ok=ok,
                                                 last_result=result)
    return ok, result


def _secrets():
    try:
        return registered_secret_values()
    except Exception:  # masking must not stop a notice; the text is built from codes anyway
        return []
