"""Deploy ledger and triggers in the admin; also adds trigger bindings to the workload page."""
from django import forms
from django.contrib import admin
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from apps.deploys.models import Deploy, Trigger
from apps.deploys.triggers import TriggerConfigError, get_trigger_kind
from apps.workloads.admin import SecretValueWidget, WorkloadAdmin


@admin.register(Deploy)
class DeployAdmin(admin.ModelAdmin):
    list_display = ("id", "workload", "status", "reason", "short_ref", "requested_by",
                    "created_at", "error_code")
    list_filter = ("status", "reason", "source_kind")
    search_fields = ("workload__name", "pinned_ref")
    exclude = ("env_snapshot",)
    readonly_fields = ("workload", "status", "reason", "requested_by", "source_kind", "trigger",
                       "pinned_ref", "pinned", "spec_snapshot", "error_code", "log",
                       "rollback_of", "promoted_from", "chained_from", "created_at",
                       "started_at", "finished_at")

    @admin.display(description=_("pinned reference"))
    def short_ref(self, obj):
        return obj.pinned_ref.split(":")[-1][:12] if obj.pinned_ref else "—"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class TriggerForm(forms.ModelForm):
    secret = forms.CharField(label=_("secret"), required=False, widget=SecretValueWidget(),
                             help_text=_("Leave blank to keep the stored secret."))

    class Meta:
        model = Trigger
        fields = ("name", "kind", "config", "secret", "workloads")

    def clean_secret(self):
        value = self.cleaned_data.get("secret")
        return value or (self.instance.secret if self.instance.pk else "")

    def clean(self):
        data = super().clean()
        if data.get("kind"):
            try:
                data["config"] = get_trigger_kind(data["kind"]).validate(data.get("config"))
            except TriggerConfigError as exc:
                self.add_error("config", "; ".join(f"{k}: {v}" for k, v in exc.errors.items()))
        return data


@admin.register(Trigger)
class TriggerAdmin(admin.ModelAdmin):
    form = TriggerForm
    list_display = ("name", "kind", "hook_url", "bound")
    list_filter = ("kind",)
    filter_horizontal = ("workloads",)

    @admin.display(description=_("hook URL"))
    def hook_url(self, obj):
        if obj.kind != "webhook":
            return "—"
        return format_html("<code>/api/hooks/{}</code>", obj.token)

    @admin.display(description=_("bound workloads"))
    def bound(self, obj):
        return obj.workloads.count()


class TriggerBindingInline(admin.TabularInline):
    model = Trigger.workloads.through
    extra = 0
    verbose_name = _("trigger binding")
    verbose_name_plural = _("trigger bindings")


# The workload page lives in apps.workloads, which must not import deploys: extend it here.
WorkloadAdmin.inlines = [*WorkloadAdmin.inlines, TriggerBindingInline]
