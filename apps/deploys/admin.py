"""Deploy ledger and triggers in the admin; also adds trigger bindings, the history and the
deploy action to the workload page (through apps.workloads.admin_panels)."""
from django import forms
from django.contrib import admin, messages
from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.formats import date_format, number_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.timezone import localtime
from django.utils.translation import gettext_lazy as _

from apps.core.admin_titles import TitledAdmin
from apps.core.errors import Conflict, InvalidInput
from apps.deploys import bindings, moves, replays
from apps.deploys.backups import BackupError, restore_backup
from apps.deploys.dispatch import dispatch
from apps.deploys.ledger import current_deploy
from apps.deploys.models import Backup, Deploy, HookDelivery, Reason, Status, Trigger
from apps.deploys.status import short_digest, workload_status
from apps.deploys.triggers import TriggerConfigError, dialects, get_trigger_kind
from apps.workloads import admin_panels
from apps.workloads.admin import SecretValueWidget
from apps.workloads.engine import EngineError
from apps.workloads.kinds import kind_choices
from apps.workloads.models import Host


class SourceKindFilter(admin.SimpleListFilter):
    """Source kinds by their label (the ledger stores the code)."""

    title = _("source kind")
    parameter_name = "source_kind"

    def lookups(self, request, model_admin):
        return kind_choices()

    def queryset(self, request, queryset):
        return queryset.filter(source_kind=self.value()) if self.value() else queryset

STATUS_REFRESH_MS = 4000  # the status header polls its endpoint this often while open


@admin.register(Deploy)
class DeployAdmin(TitledAdmin, admin.ModelAdmin):
    titles = {
        "view_changelist": _("Select deploy to view"),
        "view": _("View deploy"),
    }
    # Fits 1366 px: short digest, status, cause, duration and who; long values wrap or are
    # cut with the full text in the cell's title.
    list_display = ("id", "workload", "status", "cause", "short_ref", "duration_s", "who",
                    "created_at", "failure")
    list_filter = ("status", "reason", SourceKindFilter)
    search_fields = ("workload__name", "pinned_ref")
    list_select_related = ("workload", "requested_by", "trigger")
    exclude = ("env_snapshot",)
    readonly_fields = ("workload", "status", "reason", "requested_by", "source_kind", "trigger",
                       "pinned_ref", "pinned", "spec_snapshot", "error_code", "failure", "log",
                       "phase", "swap", "restored", "rollback_of", "promoted_from",
                       "chained_from", "created_at", "started_at", "finished_at")

    @admin.display(description=_("pinned reference"))
    def short_ref(self, obj):
        return short_ref_html(obj.pinned_ref)

    @admin.display(description=_("cause"), ordering="reason")
    def cause(self, obj):
        reason = obj.get_reason_display()
        return f"{reason} ({obj.trigger.name})" if obj.trigger_id else reason

    @admin.display(description=_("duration"))
    def duration_s(self, obj):
        return f"{obj.duration:.1f} s" if obj.duration is not None else "—"

    @admin.display(description=_("requested by"), ordering="requested_by")
    def who(self, obj):
        return obj.requested_by.get_username() if obj.requested_by_id else "—"

    @admin.display(description=_("failure"))
    def failure(self, obj):
        text = failure_text(obj)
        return format_html('<span class="tf-cut" title="{}">{}</span>', text, text)

    def has_delete_permission(self, request, obj=None):
        return False  # the ledger is history: only pruning (prune_ledger) removes rows

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
                   "available": target.artifact_available,
                   "title": _("Roll back %(name)s") % {"name": workload.name}}
        return TemplateResponse(request, "admin/deploys/deploy/rollback_confirm.html", context)


def short_ref_html(ref):
    """A digest as its 12 characters, the full reference on hover."""
    if not ref:
        return "—"
    return format_html('<code title="{}">{}</code>', ref, short_digest(ref))


def failure_text(deploy):
    """The fixed message for the error code and the failure's detail sentence (escaped by the
    admin like any text)."""
    if not deploy.error_code:
        return "—"
    explanation = deploy.error_explanation
    message = str(deploy.error_message)
    return f"{message} {explanation}" if explanation else message


class DeployHistoryPanel:
    """The ledger on the workload page, newest first, with a rollback button per entry.

    A read-only table rendered from one query (plus the ledger's current_deploy once), not an
    admin inline: an inline builds a form and ten read-only field wrappers per row, which made
    this block most of the page's time. Every cell comes from the row; none asks the engine."""

    # The error code is the failure text's title (hover); the words are in the cell.
    columns = ("entry", "status_badge", "reason", "short_ref", "requested", "created",
               "duration_s", "failure", "rollback")

    def __init__(self, workload):
        current = current_deploy(workload)
        self.current_pk = current.pk if current is not None else None
        self.current_ref = current.pinned_ref if current is not None else ""

    @classmethod
    def context(cls, request, workload):
        panel = cls(workload)
        rows = workload.deploys.select_related("requested_by").order_by("-id")
        return {
            "title": _("deploy history"),
            "headers": [getattr(cls, name).short_description for name in cls.columns],
            "rows": [[getattr(panel, name)(deploy) for name in cls.columns] for deploy in rows],
        }

    def _is_current(self, obj):
        return self.current_pk is not None and obj.pk == self.current_pk

    @admin.display(description=_("reason"))
    def reason(self, obj):
        return obj.get_reason_display()

    @admin.display(description=_("requested by"))
    def requested(self, obj):
        return obj.requested_by.get_username() if obj.requested_by else "—"

    @admin.display(description=_("created"))
    def created(self, obj):
        return date_format(localtime(obj.created_at), "DATETIME_FORMAT")

    @admin.display(description=_("error code"))
    def error_code(self, obj):
        return obj.error_code or "—"

    @admin.display(description="#")
    def entry(self, obj):
        url = reverse("admin:deploys_deploy_change", args=[obj.pk])
        if self._is_current(obj):
            return format_html('<a href="{}">#{}</a> <span class="tf-running-now">{}</span>',
                               url, obj.pk, _("running now"))
        return format_html('<a href="{}">#{}</a>', url, obj.pk)

    @admin.display(description=_("status"))
    def status_badge(self, obj):
        colours = {Status.SUCCEEDED: "#2e7d32", Status.FAILED: "#c62828",
                   Status.RUNNING: "#1565c0", Status.INTERRUPTED: "#ef6c00",
                   Status.WAITING: "#6a1b9a", Status.CANCELLED: "#616161"}
        return format_html('<span class="tf-badge" style="color:#fff;background:{};'
                           'padding:1px 6px;border-radius:8px">{}</span>',
                           colours.get(obj.status, "#757575"), obj.get_status_display())

    @admin.display(description=_("pinned reference"))
    def short_ref(self, obj):
        return short_ref_html(obj.pinned_ref)

    @admin.display(description=_("failure"))
    def failure(self, obj):
        if not obj.error_code:
            return "—"
        return format_html('<span title="{}">{}</span>', obj.error_code, failure_text(obj))

    @admin.display(description=_("duration"))
    def duration_s(self, obj):
        if obj.duration is None:
            return "—"
        # The number in the active language (decimal comma in ru), the unit translated.
        return _("%(seconds)s s") % {"seconds": number_format(obj.duration, 1)}

    @admin.display(description=_("rollback"))
    def rollback(self, obj):
        if obj.status != Status.SUCCEEDED or self._is_current(obj):
            return "—"
        if self.current_ref and obj.pinned_ref == self.current_ref:
            return _("already running")  # the same artifact: nothing to roll back to
        if not obj.artifact_available:  # stored by cleanup and reconcile: no engine call here
            return _("artifact gone")
        url = reverse("admin:deploys_deploy_rollback", args=[obj.pk])
        return format_html('<a class="button" href="{}">{}</a>', url, _("Roll back to this"))


@admin.register(Backup)
class BackupAdmin(TitledAdmin, admin.ModelAdmin):
    titles = {
        "changelist": _("Select backup to change"),
        "view_changelist": _("Select backup to view"),
        "add": _("Add backup"),
        "change": _("Change backup"),
        "view": _("View backup"),
    }
    list_display = ("id", "workload", "deploy", "status", "size", "created_at", "reason")
    list_filter = ("status",)
    list_select_related = ("workload", "deploy", "deploy__workload")
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
class TriggerAdmin(TitledAdmin, admin.ModelAdmin):
    titles = {
        "changelist": _("Select trigger to change"),
        "view_changelist": _("Select trigger to view"),
        "add": _("Add trigger"),
        "change": _("Change trigger"),
        "view": _("View trigger"),
    }
    form = TriggerForm
    list_display = ("name", "kind", "hook_url", "secret_state", "bound")
    list_filter = ("kind",)
    filter_horizontal = ("workloads",)
    actions = ["issue_new_hook_urls"]
    readonly_fields = ("sender_setup", "recent_deliveries")

    @admin.display(description=_("what to paste into the sender"))
    def sender_setup(self, obj):
        if not obj.pk or obj.kind != "webhook":
            return "—"
        rows = format_html_join("", (
            "<tr><th>{}</th><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td>"
            "<td>{}</td></tr>"), (
            (setup["label"], setup["url"], setup["content_type"], setup["secret"],
             format_html_join(mark_safe("<br>"), "<code>{}: {}</code>",
                              setup["headers"].items()) or "—",
             format_html("<pre>{}</pre>", setup["snippet"]) if setup["snippet"] else
             setup["events"])
            for setup in (dialect.setup(obj, None) for dialect in dialects.DIALECTS.values())))
        return format_html(
            '<table class="tf-hook-setup"><thead><tr><th>{}</th><th>{}</th><th>{}</th>'
            "<th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>{}</tbody></table>",
            _("sender"), _("URL"), _("content type"), _("secret"), _("headers"),
            _("configuration / events"), rows)

    @admin.display(description=_("last deliveries"))
    def recent_deliveries(self, obj):
        if not obj.pk or obj.kind != "webhook":
            return "—"
        entries = list(obj.hook_log.all()[:HookDelivery.KEEP])
        if not entries:
            return _("No call received yet.")
        rows = format_html_join("", (
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"), (
            (date_format(localtime(entry.received_at), "SHORT_DATETIME_FORMAT"),
             entry.dialect or "—", entry.event or "—", entry.get_outcome_display(),
             entry.reason_text, ", ".join(f"#{pk}" for pk in entry.deploy_ids) or "—")
            for entry in entries))
        return format_html(
            '<table class="tf-hook-log"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th>'
            "<th>{}</th><th>{}</th></tr></thead><tbody>{}</tbody></table>",
            _("received"), _("sender"), _("event"), _("outcome"), _("reason"), _("deploys"),
            rows)

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

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(bound_count=Count("workloads"))

    @admin.display(description=_("bound workloads"), ordering="bound_count")
    def bound(self, obj):
        return obj.bound_count

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

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("trigger")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "trigger" and field is not None:
            # Every binding row renders the same trigger list: read it once per request
            # (validation still uses the field's queryset).
            cache = request.__dict__.setdefault("_tinyforge_trigger_choices", {})
            if "choices" not in cache:
                cache["choices"] = list(field.choices)
            field.choices = cache["choices"]
        return field


def deploy_now(model_admin, request, queryset):
    """The workload list's "Deploy now" action (and the workload page's button)."""
    for workload in queryset:
        deploy = dispatch(workload, Reason.MANUAL, user=request.user, enqueue=True)
        model_admin.message_user(request, _("Deploy #%(id)s of %(name)s: %(status)s.") % {
            "id": deploy.pk, "name": workload.name, "status": deploy.get_status_display()
        })


def move_to_host(model_admin, request, queryset):
    """The workload list's "Move to another host" action: a confirmation page (which host;
    volumes are not moved), then ``moves.do_move`` for each workload."""
    if request.POST.get("confirm") != "yes":
        return TemplateResponse(request, "admin/deploys/move_confirm.html", {
            **model_admin.admin_site.each_context(request),
            "title": _("Move to another host"), "opts": model_admin.opts,
            "workloads": list(queryset.select_related("host")),
            "hosts": list(Host.objects.order_by("-is_local", "name")),
        })
    for workload in queryset:
        try:
            deploy = moves.do_move(workload, request.POST.get("host", ""), user=request.user)
        except Conflict as exc:
            model_admin.message_user(request, f"{workload.name}: {exc.message}", messages.ERROR)
            continue
        level = messages.SUCCESS if deploy.status == Status.SUCCEEDED else messages.ERROR
        model_admin.message_user(request, _("Move of %(name)s (deploy #%(id)s): %(status)s.") % {
            "name": workload.name, "id": deploy.pk, "status": deploy.get_status_display()}, level)
    return None


def status_header_context(request, workload):
    return {
        "status": workload_status(workload, request),
        "status_url": reverse("api:workload_status_view", kwargs={"workload_id": workload.pk}),
        "refresh_ms": STATUS_REFRESH_MS,
        "labels": {
            "version": str(_("Version")), "since": str(_("since")),
            "lastDeploy": str(_("Last deploy")), "noDeploy": str(_("none yet")),
            "copy": str(_("Copy digest")), "copied": str(_("Copied")),
            "copyTitle": str(_("Copy the full digest")),
        },
    }


def extend_workload_page():
    """Bindings, the ledger and the deploy action on the workload page, through the one hook
    apps.workloads offers (it must not import deploys). Called from DeploysConfig.ready()."""
    admin_panels.register_inline(TriggerBindingInline, order=10)
    admin_panels.register_panel("status", "admin/deploys/status_panel.html",
                                status_header_context, order=0,
                                css=["deploys/status.css"], js=["deploys/status.js"])
    admin_panels.register_panel("deploy-history", "admin/deploys/history_panel.html",
                                DeployHistoryPanel.context, order=10, position="bottom")
    admin_panels.register_action(admin_panels.DEPLOY_ACTION, deploy_now, _("Deploy now"))
    admin_panels.register_action("move_to_host", move_to_host, _("Move to another host"))
