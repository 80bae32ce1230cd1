"""django-q2 targets (thin)."""
from apps.notifications.models import Channel
from apps.notifications.notices import Notice, deliver


def deliver_notice(channel_id, notice):
    channel = Channel.objects.filter(pk=channel_id).first()
    if channel is None or not channel.wants(notice["event"]):
        return None  # deleted or switched off since the notice was queued
    return deliver(channel, Notice(**notice))
