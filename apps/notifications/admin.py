"""Channels in the admin: URL and secret write-only, a "send test" action."""
from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.core.admin_titles import TitledAdmin
from apps.notifications.channels import CHANNELS, ChannelConfigError, get_channel_kind
from apps.notifications.models import Channel
from apps.notifications.notices import deliver, sample_notice

WRITE_ONLY = ("url", "secret")


class ChannelForm(forms.ModelForm):
    """The URL and secret are never sent back to the browser: left blank, they keep their
    stored value (``clean`` puts it back before the instance is built); "clear" empties the
    secret."""

    url = forms.CharField(label=gettext_lazy("webhook URL"), required=False,
                          widget=forms.PasswordInput(render_value=False,
                                                     attrs={"autocomplete": "off"}))
    secret = forms.CharField(label=gettext_lazy("signing secret"), required=False,
                             widget=forms.PasswordInput(render_value=False,
                                                        attrs={"autocomplete": "off"}),
                             help_text=Channel._meta.get_field("secret").help_text)
    clear_secret = forms.BooleanField(label=gettext_lazy("clear the signing secret"),
                                      required=False)

    class Meta:
        model = Channel
        fields = ("name", "kind", "enabled", "on_deploy_failed", "on_auto_rollback",
                  "on_host_down", "recipients", "url", "secret")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in WRITE_ONLY:
            if self.instance.pk and getattr(self.instance, name):
                self.fields[name].help_text = _("Stored; leave blank to keep it.")

    def clean(self):
        cleaned = super().clean()
        for name in WRITE_ONLY:
            if not cleaned.get(name) and self.instance.pk:
                cleaned[name] = getattr(Channel.objects.get(pk=self.instance.pk), name)
        if cleaned.get("clear_secret"):
            cleaned["secret"] = ""
        kind = cleaned.get("kind")
        if kind in CHANNELS:
            probe = Channel(**{key: cleaned.get(key, "") for key in
                               ("recipients", "url", "secret")})
            try:
                get_channel_kind(kind).validate(probe)
            except ChannelConfigError as exc:
                for field_name, message in exc.errors.items():
                    self.add_error(field_name if field_name in self.fields else None, message)
        return cleaned


@admin.register(Channel)
class ChannelAdmin(TitledAdmin, admin.ModelAdmin):
    form = ChannelForm
    list_display = ("name", "kind", "enabled", "last_ok", "last_attempt_at", "last_result")
    list_filter = ("kind", "enabled")
    readonly_fields = ("last_attempt_at", "last_ok", "last_result")
    actions = ["send_test"]
    titles = {
        "changelist": gettext_lazy("Select notification channel to change"),
        "view_changelist": gettext_lazy("Select notification channel to view"),
        "add": gettext_lazy("Add notification channel"),
        "change": gettext_lazy("Change notification channel"),
        "view": gettext_lazy("View notification channel"),
    }
    fieldsets = (
        (None, {"fields": ("name", "kind", "enabled")}),
        (gettext_lazy("Events"), {"fields": ("on_deploy_failed", "on_auto_rollback",
                                             "on_host_down")}),
        (gettext_lazy("E-mail"), {"fields": ("recipients",)}),
        (gettext_lazy("Webhook"), {"fields": ("url", "secret", "clear_secret")}),
        (gettext_lazy("Last delivery"), {"fields": ("last_attempt_at", "last_ok",
                                                    "last_result")}),
    )

    @admin.action(description=gettext_lazy("Send a test notification"),
                  permissions=["change"])
    def send_test(self, request, queryset):
        for channel in queryset:
            ok, result = deliver(channel, sample_notice(channel))
            if ok:
                self.message_user(request, _("Test sent to %(name)s: %(result)s.")
                                  % {"name": channel.name, "result": result}, messages.SUCCESS)
            else:
                self.message_user(request, _("Test to %(name)s failed: %(result)s.")
                                  % {"name": channel.name, "result": result}, messages.ERROR)
