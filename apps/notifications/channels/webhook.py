"""A generic JSON webhook, signed, that Slack, Discord and Mattermost incoming webhooks accept.

The body carries the message twice, ``text`` (Slack, Mattermost) and ``content`` (Discord),
plus the structured facts for anything else. With a secret, the raw body is signed with
HMAC-SHA256 in ``X-TinyForge-Signature-256: sha256=<hex>`` (the scheme GitHub uses, so the
usual verifiers work). The URL itself is a secret: chat webhooks carry their token in it.
"""
import hashlib
import hmac
import json
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.notifications.channels.base import ChannelConfigError, ChannelKind, DeliveryError

SIGNATURE_HEADER = "X-TinyForge-Signature-256"
EVENT_HEADER = "X-TinyForge-Event"
# Discord refuses a "content" longer than this.
MAX_TEXT = 2000


def signature(secret, body):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookChannel(ChannelKind):
    kind = "webhook"
    label = gettext_lazy("Webhook (Slack, Discord, Mattermost, JSON)")
    fields = ("url", "secret")

    def validate(self, channel):
        parts = urlsplit(channel.url or "")
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ChannelConfigError({"url": _("Give an http:// or https:// URL.")})

    def body(self, notice):
        text = notice.text if len(notice.text) <= MAX_TEXT else notice.text[:MAX_TEXT - 1] + "…"
        return json.dumps({"text": text, "content": text, **notice.facts()}).encode()

    def send(self, channel, notice):
        body = self.body(notice)
        headers = {"Content-Type": "application/json", "User-Agent": "TinyForge",
                   EVENT_HEADER: notice.event}
        if channel.secret:
            headers[SIGNATURE_HEADER] = signature(channel.secret, body)
        request = urllib.request.Request(channel.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request,
                                        timeout=settings.TINYFORGE_NOTIFY_TIMEOUT) as response:
                return _("HTTP %(status)s") % {"status": response.status}
        except urllib.error.HTTPError as exc:
            raise DeliveryError(_("the receiver answered HTTP %(status)s")
                                % {"status": exc.code}) from None
        except (urllib.error.URLError, OSError) as exc:
            # The reason only (refused, timed out): never the URL, which holds a token.
            reason = getattr(exc, "reason", exc)
            raise DeliveryError(_("the receiver is unreachable: %(reason)s")
                                % {"reason": type(reason).__name__ if not isinstance(reason, str)
                                   else reason}) from None
