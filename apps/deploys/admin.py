"""Deploy ledger and triggers in the admin; also adds trigger bindings to the workload page."""
from django import forms
from django.contrib import admin, messages
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from apps.core.errors import Conflict, InvalidInput
from apps.deploys import bindings, replays
from apps.deploys.backups import BackupError, restore_backup
from apps.deploys.ledger import artifact_available, current_deploy
from apps.deploys.models import Backup, Deploy, Status, Trigger
from apps.deploys.triggers import TriggerConfigError, get_trigger_kind
from apps.workloads.admin import SecretValueWidget, WorkloadAdmin
from apps.workloads.engine import EngineError


@admin.register(Deploy)
class DeployAdmin(admin.ModelAdmin):
    list_display = ("id", "workload", "status", "reason", "short_ref", "requested_by",
                    "created_at", "error_code", "failure")
    list_filter = ("status", "reason", "source_kind")
    search_fields = ("workload__name", "pinned_ref")
    exclude = ("env_snapshot",)
    readonly_fields = ("workload", "status", "reason", "requested_by", "source_kind", "trigger",
                       "pinned_ref", "pinned", "spec_snapshot", "error_code", "failure", "log",
                       "phase", "swap", "restored", "rollback_of", "promoted_from",
                       "chained_from", "created_at", "started_at", "finished_at")

    @admin.display(description=_("pinned reference"))
    def short_ref(self, obj):
        return obj.pinned_ref.split(":")[-1][:12] if obj.pinned_ref else "—"

    @admin.display(description=_("failure"))
    def failure(self, obj):
        return failure_text(obj)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_urls(self):
        extra = [path("<int:pk>/rollback/", self.admin_site.admin_view(self.rollback_view),
                      name="deploys_deploy_rollback")]
        return extra + super().get_urls()

    def rollback_view(self, request, pk):
        """GET: a confirmation page; POST: roll the workload back to this entry."""
        target = get_object_or_404(Deploy.objects.select_related("workload"), pk=pk)
        workload = target.workload
        if not request.user.is_staff:
            return redirect("admin:index")
        if request.method == "POST":
            try:
                deploy = replays.rollback(workload, target=target, user=request.user,
                                          restore_config="restore_config" in request.POST)
                self.message_user(request, _("Rollback #%(id)s: %(status)s.") % {
                    "id": deploy.pk, "status": deploy.get_status_display()})
            except Conflict as exc:
                self.message_user(request, exc.message, messages.ERROR)
            return redirect("admin:workloads_workload_change", workload.pk)
        context = {**self.admin_site.each_context(request), "target": target,
                   "workload": workload, "current": current_deploy(workload),
                   "available": artifact_available(target),
                   "title": _("Roll back %(name)s") % {"name": workload.name}}
        return TemplateResponse(request, "admin/deploys/deploy/rollback_confirm.html", context)


def failure_text(deploy):
    """The fixed message for the error code and the failure's detail sentence (escaped by the
    admin like any text)."""
    if not deploy.error_code:
        return "—"
    explanation = deploy.error_explanation
    message = str(deploy.error_message)
    return f"{message} {explanation}" if explanation else message


class DeployHistoryInline(admin.TabularInline):
    """The ledger on the workload page, newest first, with a rollback button per entry."""

    model = Deploy
    fk_name = "workload"
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ["-id"]
    verbose_name = _("deploy")
    verbose_name_plural = _("deploy history")
    fields = ("entry", "status_badge", "reason", "short_ref", "requested_by", "created_at",
              "duration_s", "error_code", "failure", "rollback")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("requested_by", "workload")

    @admin.display(description="#")
    def entry(self, obj):
        url = reverse("admin:deploys_deploy_change", args=[obj.pk])
        running = current_deploy(obj.workload)
        mark = " ▶" if running is not None and running.pk == obj.pk else ""
        return format_html('<a href="{}">#{}</a>{}', url, obj.pk, mark)

    @admin.display(description=_("status"))
    def status_badge(self, obj):
        colours = {Status.SUCCEEDED: "#2e7d32", Status.FAILED: "#c62828",
                   Status.RUNNING: "#1565c0", Status.INTERRUPTED: "#ef6c00",
                   Status.WAITING: "#6a1b9a", Status.CANCELLED: "#616161"}
        return format_html('<span style="color:#fff;background:{};padding:1px 6px;'
                           'border-radius:8px">{}</span>', colours.get(obj.status, "#757575"),
                           obj.get_status_display())

    @admin.display(description=_("pinned reference"))
    def short_ref(self, obj):
        return obj.pinned_ref.split(":")[-1][:12] if obj.pinned_ref else "—"

    @admin.display(description=_("failure"))
    def failure(self, obj):
        return failure_text(obj)

    @admin.display(description=_("duration"))
    def duration_s(self, obj):
        return f"{obj.duration:.1f} s" if obj.duration is not None else "—"

    @admin.display(description=_("rollback"))
    def rollback(self, obj):
        running = current_deploy(obj.workload)
        if obj.status != Status.SUCCEEDED or (running is not None and running.pk == obj.pk):
            return "—"
        if not artifact_available(obj):
            return _("artifact gone")
        url = reverse("admin:deploys_deploy_rollback", args=[obj.pk])
        return format_html('<a class="button" href="{}">{}</a>', url, _("Roll back to this"))


@admin.register(Backup)
class BackupAdmin(admin.ModelAdmin):
    list_display = ("id", "workload", "deploy", "status", "size", "created_at", "reason")
    list_filter = ("status",)
    readonly_fields = ("workload", "deploy", "status", "reason", "path", "size", "sha256",
                       "volumes", "created_at")
    actions = ["restore"]

    def has_add_permission(self, request):
        return False

    @admin.action(description=_("Restore the selected backup"), permissions=["change"])
    def restore(self, request, queryset):
        for backup in queryset:
            try:
                restore_backup(backup)
                self.message_user(request, _("Restored backup #%(id)s.") % {"id": backup.pk})
            except (BackupError, EngineError) as exc:
                self.message_user(request, str(exc), messages.ERROR)


class TriggerForm(forms.ModelForm):
    secret = forms.CharField(
        label=_("secret"), required=False, widget=SecretValueWidget(),
        help_text=_("Leave blank to keep the stored secret. A webhook always has one: when it "
                    "has none, a secret is generated on save and shown once."))

    class Meta:
        model = Trigger
        fields = ("name", "kind", "config", "secret", "workloads")

    def clean_secret(self):
        value = self.cleaned_data.get("secret") or ""
        kind = self.data.get("kind") or self.instance.kind
        stored = self.instance.secret if self.instance.pk else ""
        if not value:  # blank keeps the stored secret; it cannot be emptied here
            return stored
        try:
            return bindings.clean_secret(kind, value, creating=not self.instance.pk) or stored
        except (InvalidInput, TriggerConfigError) as exc:
            raise forms.ValidationError(next(iter(exc.errors.values()))) from None

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
    list_display = ("name", "kind", "hook_url", "secret_state", "bound")
    list_filter = ("kind",)
    filter_horizontal = ("workloads",)
    actions = ["issue_new_hook_urls"]

    @admin.display(description=_("hook URL"))
    def hook_url(self, obj):
        if obj.kind != "webhook":
            return "—"
        # Only the token's SHA-256 is stored: the URL was shown once, when it was issued.
        return _("shown once when issued; use the action to issue a new one")

    @admin.display(description=_("secret"))
    def secret_state(self, obj):
        if obj.needs_secret:
            return format_html('<strong style="color:#c62828">{}</strong>',
                               _("missing: every call is refused until one is set"))
        return _("set") if obj.secret else "—"

    @admin.display(description=_("bound workloads"))
    def bound(self, obj):
        return obj.workloads.count()

    def save_model(self, request, obj, form, change):
        obj.ensure_secret()  # e.g. a trigger switched to webhook, or one from before secrets
        super().save_model(request, obj, form, change)
        if obj.kind == "webhook" and obj.raw_token:
            self.message_user(request, _("Hook URL of %(name)s (shown once): %(url)s") % {
                "name": obj.name, "url": f"/api/hooks/{obj.raw_token}"}, messages.WARNING)
        if obj.generated_secret:
            self.message_user(request, _("Generated secret of %(name)s (shown once): "
                                         "%(secret)s") % {"name": obj.name,
                                                          "secret": obj.generated_secret},
                              messages.WARNING)

    @admin.action(description=_("Issue new hook URLs (the old ones stop working)"),
                  permissions=["change"])
    def issue_new_hook_urls(self, request, queryset):
        for trigger in queryset.filter(kind="webhook"):
            bindings.reissue_hook_token(trigger)
            self.message_user(request, _("Hook URL of %(name)s (shown once): %(url)s") % {
                "name": trigger.name, "url": f"/api/hooks/{trigger.raw_token}"},
                messages.WARNING)


class TriggerBindingInline(admin.TabularInline):
    model = Trigger.workloads.through
    extra = 0
    verbose_name = _("trigger binding")
    verbose_name_plural = _("trigger bindings")


# The workload page lives in apps.workloads, which must not import deploys: extend it here.
WorkloadAdmin.inlines = [*WorkloadAdmin.inlines, TriggerBindingInline, DeployHistoryInline]
