"""E-mail through Django's mail settings (EMAIL_HOST, DEFAULT_FROM_EMAIL, ...)."""
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from apps.notifications.channels.base import ChannelConfigError, ChannelKind, DeliveryError


class EmailChannel(ChannelKind):
    kind = "email"
    label = gettext_lazy("E-mail")
    fields = ("recipients",)

    def validate(self, channel):
        recipients = channel.recipient_list()
        if not recipients:
            raise ChannelConfigError({"recipients": _("Give at least one e-mail address.")})
        for address in recipients:
            try:
                validate_email(address)
            except ValidationError:
                message = _("'%(address)s' is not an e-mail address.") % {"address": address}
                raise ChannelConfigError({"recipients": message}) from None

    def send(self, channel, notice):
        recipients = channel.recipient_list()
        try:
            send_mail(notice.title, notice.text, settings.DEFAULT_FROM_EMAIL, recipients)
        except Exception as exc:  # SMTP and socket errors alike: the deploy never sees them
            raise DeliveryError(_("sending mail failed: %(error)s")
                                % {"error": type(exc).__name__}) from exc
        return ngettext("sent to %(count)s address", "sent to %(count)s addresses",
                        len(recipients)) % {"count": len(recipients)}
