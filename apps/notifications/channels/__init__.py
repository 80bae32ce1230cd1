"""The channel registry: one plugin per kind; it also feeds ``Channel.kind`` choices."""
from django.utils.translation import gettext as _

from apps.notifications.channels.base import (
    ChannelConfigError,
    ChannelKind,
    DeliveryError,
)
from apps.notifications.channels.email import EmailChannel
from apps.notifications.channels.webhook import WebhookChannel

CHANNELS = {kind.kind: kind for kind in (EmailChannel(), WebhookChannel())}


def get_channel_kind(kind):
    """The ChannelKind for ``kind``; raises ChannelConfigError naming the field."""
    try:
        return CHANNELS[kind]
    except KeyError:
        raise ChannelConfigError({"kind": _("unknown channel kind; known: %(known)s")
                                  % {"known": ", ".join(sorted(CHANNELS))}}) from None


__all__ = ["CHANNELS", "ChannelConfigError", "ChannelKind", "DeliveryError", "get_channel_kind"]
