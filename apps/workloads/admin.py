"""The admin is TinyForge's main UI: workloads with env/volume inlines, credentials, tokens."""
from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import OuterRef, Prefetch, Subquery
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from modeltranslation.admin import TranslationAdmin

from apps.core.admin_titles import TitledAdmin
from apps.core.crypto import MASK
from apps.workloads import (
    actions,
    admin_panels,
    controls,
    host_access,
    hosts,
    proxy,
    spec_form,
)
from apps.workloads.engine import EngineError
from apps.workloads.models import (
    RUN_STATE_LABELS,
    ApiToken,
    Container,
    EnvVar,
    EventLog,
    Host,
    RegistryCredential,
    Volume,
    Workload,
)
from apps.workloads.sources import SOURCES
from apps.workloads.sources.runner import domains_of
from apps.workloads.vocabulary import container_state_label, event_kind_label


class SecretValueWidget(forms.PasswordInput):
    """Never renders a stored secret back into the page; a blank submit keeps it."""

    def __init__(self):
        super().__init__(render_value=False, attrs={"placeholder": MASK, "autocomplete": "off"})


class EnvVarForm(forms.ModelForm):
    class Meta:
        model = EnvVar
        fields = ("key", "value", "secret")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["value"].required = False
        if self.instance.pk and self.instance.secret:
            self.fields["value"].widget = SecretValueWidget()

    def clean_value(self):
        value = self.cleaned_data.get("value")
        if not value and self.instance.pk and self.instance.secret:
            return self.instance.value
        return value


class EnvVarInline(admin.TabularInline):
    model = EnvVar
    form = EnvVarForm
    extra = 0


class VolumeFormSet(forms.BaseInlineFormSet):
    """Bind mounts follow the host access policy (apps.workloads.host_access), as in the API."""

    acting_user = None

    def clean(self):
        super().clean()
        kept = [form.cleaned_data for form in self.forms
                if form.cleaned_data and not form.cleaned_data.get("DELETE")]
        had = list(self.instance.volumes.all()) if self.instance.pk else []
        try:
            host_access.check(host_access.volume_access(kept), had=host_access.volume_access(had),
                              user=self.acting_user)
        except actions.InvalidInput as exc:
            raise forms.ValidationError([f"{k}: {v}" for k, v in exc.errors.items()]) from None


class VolumeInline(admin.TabularInline):
    model = Volume
    formset = VolumeFormSet
    extra = 0
    readonly_fields = ("engine_name",)

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        formset.acting_user = request.user
        return formset


class ContainerInline(admin.TabularInline):
    model = Container
    extra = 0
    can_delete = False
    fields = ("name", "service", "image_cut", "short_digest", "state_label", "deploy_id")
    readonly_fields = fields

    @admin.display(description=_("image"))
    def image_cut(self, obj):
        return format_html('<span class="tf-cut" title="{}">{}</span>', obj.image, obj.image)

    @admin.display(description=_("digest"))
    def short_digest(self, obj):
        if not obj.digest:
            return "—"
        return format_html('<code title="{}">{}</code>', obj.digest,
                           obj.digest.split(":")[-1][:12])

    @admin.display(description=_("state"))
    def state_label(self, obj):
        return container_state_label(obj.state)

    def has_add_permission(self, request, obj=None):
        return False


class RefusedByActions(Exception):
    """The workload actions refused a save; ``errors`` maps field paths to messages."""

    def __init__(self, errors):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class WorkloadForm(forms.ModelForm):
    # Set (on a per-request subclass) when the actions refused the first attempt to save.
    refused = None

    class Meta:
        model = Workload
        fields = "__all__"

    acting_user = None  # set per request by WorkloadAdmin.get_form

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Each kind's option fields start from the stored spec (its own kind) or the kind's
        # sample; the JSON text from the stored spec or the image sample.
        instance = self.instance
        for kind, source in SOURCES.items():
            own = instance.pk and instance.kind == kind
            for name, value in spec_form.initial_values(
                    source, instance.spec if own else source.schema_sample).items():
                self.initial.setdefault(name, value)
        if not instance.pk:
            self.initial.setdefault("kind", "image")
            self.initial.setdefault("spec", SOURCES["image"].schema_sample)
        if "spec" in self.fields:
            self.fields["spec"].required = False

    def _form_mode(self):
        # A post without the switch (scripts, older pages) carries the spec as JSON.
        return self.data.get(spec_form.SPEC_MODE) == spec_form.MODE_FORM

    def _spec_error(self, source, key, message):
        if key in self._spec_keys:
            return  # the actions refused the first save for what clean() found again
        self._spec_keys.add(key)
        field = spec_form.field_for(source, self.fields, key) if (
            source is not None and self._form_mode()) else None
        self.add_error(field or "spec", f"{key}: {message}")

    def clean(self):
        data = super().clean()
        self._spec_keys = set()
        source = SOURCES.get(data.get("kind"))
        if source is not None and self._form_mode():
            try:
                data["spec"] = spec_form.spec_from(source, data)
            except spec_form.FieldProblem as problem:
                self.add_error(problem.field, problem.message)
                return data
        if data.get("kind") and data.get("spec") is None:
            data["spec"] = {}
        if data.get("kind") and "spec" in data:
            try:
                data["spec"] = actions.clean_spec(data["kind"], data["spec"])
                old = self.instance
                host_access.check(
                    host_access.spec_access(data["kind"], data["spec"]),
                    had=host_access.spec_access(old.kind, old.spec) if old.pk else [],
                    user=self.acting_user,
                )
            except actions.InvalidInput as exc:
                for key, message in exc.errors.items():
                    if key.startswith("spec"):
                        self._spec_error(source, key, message)
                    else:
                        self.add_error(None, f"{key}: {message}")
        for key, message in (self.refused or {}).items():
            field = key.split(".")[0].split("[")[0]
            if field.startswith("spec"):
                self._spec_error(source, key, message)
            elif field in self.fields:
                self.add_error(field, f"{key}: {message}")
            else:
                self.add_error(None, f"{key}: {message}")
        return data


# One field per option of every kind (the page shows the selected kind's), and the switch
# between them and the JSON text. Declared on the class so that the admin's fieldsets see them.
for _source in SOURCES.values():
    WorkloadForm.base_fields.update(spec_form.kind_fields(_source))
WorkloadForm.base_fields[spec_form.SPEC_MODE] = spec_form.mode_field()
WorkloadForm.declared_fields.update(
    {name: field for name, field in WorkloadForm.base_fields.items()
     if name.startswith(spec_form.PREFIX) or name == spec_form.SPEC_MODE})


@admin.register(Workload)
class WorkloadAdmin(TitledAdmin, TranslationAdmin):
    titles = {
        "changelist": _("Select workload to change"),
        "view_changelist": _("Select workload to view"),
        "add": _("Add workload"),
        "change": _("Change workload"),
        "view": _("View workload"),
    }
    form = WorkloadForm
    list_display = ("name", "kind", "host", "state_badge", "running_version", "domain_links",
                    "last_deploy")
    list_filter = ("kind",)
    search_fields = ("name", "title")
    inlines = [EnvVarInline, VolumeInline, ContainerInline]
    readonly_fields = ("engine_key",)
    change_form_template = "admin/workloads/workload/change_form.html"

    def get_fieldsets(self, request, obj=None):
        """The model's fields first, then a group of option fields per kind (the page shows
        the selected kind's: spec_form.js), then the spec as JSON with the switch."""
        spec_fields = {spec_form.SPEC_MODE, "spec"}
        fieldsets = []
        for title, options in super().get_fieldsets(request, obj):
            fields = [f for f in options.get("fields", ())
                      if f not in spec_fields and not str(f).startswith(spec_form.PREFIX)]
            fieldsets.append((title, {**options, "fields": fields}))
        for kind, source in SOURCES.items():
            names = list(spec_form.kind_fields(source))
            fieldsets.append((_("Settings: %(kind)s") % {"kind": source.label}, {
                "fields": names, "classes": ["tf-kind-fields", f"tf-kind-{kind}"]}))
        fieldsets.append((_("Settings as JSON"), {
            "fields": [spec_form.SPEC_MODE, "spec"], "classes": ["tf-spec-json"]}))
        return fieldsets

    @admin.display(description=_("state"))
    def state_badge(self, obj):
        return RUN_STATE_LABELS[obj.run_state]

    @admin.display(description=_("version running"))
    def running_version(self, obj):
        digests = sorted({c.digest for c in obj.containers.all() if c.digest})
        return ", ".join(d.split(":")[-1][:12] for d in digests) or "—"

    @admin.display(description=_("domains"))
    def domain_links(self, obj):
        hosts = domains_of(obj.spec)
        if not hosts:
            return "—"
        return format_html_join(", ", '<a href="{}" rel="noopener">{}</a>',
                                ((proxy.url_for(host), host) for host in hosts))

    def get_queryset(self, request):
        # The changelist shows state, version and the newest deploy of every row: containers
        # prefetched once, the newest ledger row's id and status annotated (no query per row).
        # The ledger belongs to apps.deploys: reached through the reverse relation.
        newest = (_deploy_model().objects.filter(workload=OuterRef("pk")).order_by("-id"))
        return super().get_queryset(request).select_related("host").annotate(
            last_deploy_id=Subquery(newest.values("id")[:1]),
            last_deploy_status=Subquery(newest.values("status")[:1]),
        ).prefetch_related(Prefetch("containers", queryset=Container.objects.order_by("id")))

    @admin.display(description=_("last deploy"))
    def last_deploy(self, obj):
        if not getattr(obj, "last_deploy_id", None):
            return "—"
        labels = dict(_deploy_model()._meta.get_field("status").choices)
        url = reverse("admin:deploys_deploy_change", args=[obj.last_deploy_id])
        return format_html('<a href="{}">#{} {}</a>', url, obj.last_deploy_id,
                           labels.get(obj.last_deploy_status, obj.last_deploy_status))

    # Other apps' inlines, panels and actions come from admin_panels (see its docstring).

    def get_inlines(self, request, obj):
        return [*super().get_inlines(request, obj), *admin_panels.inlines()]

    def get_actions(self, request):
        actions = super().get_actions(request)
        if actions is not None and self.has_change_permission(request):
            for action in admin_panels.actions():
                actions[action.name] = (action.function, action.name, action.description)
        return actions

    def change_view(self, request, object_id, form_url="", extra_context=None):
        workload = self.get_object(request, object_id) if object_id else None
        panels = admin_panels.panels() if workload is not None else []
        context = {
            "workload_panels": [
                render_to_string(panel.template, panel.context(request, workload), request)
                for panel in panels if panel.position == "top"
            ],
            "workload_panels_below": [
                render_to_string(panel.template, panel.context(request, workload), request)
                for panel in panels if panel.position == "bottom"
            ],
            "workload_panel_css": [href for panel in panels for href in panel.css],
            "workload_panel_js": [src for panel in panels for src in panel.js],
            "can_deploy": (admin_panels.action(admin_panels.DEPLOY_ACTION) is not None
                           and self.has_change_permission(request, workload)),
            "can_control": (workload is not None and request.user.is_staff
                            and self.has_change_permission(request, workload)),
        }
        return super().change_view(request, object_id, form_url,
                                   {**context, **(extra_context or {})})

    def get_urls(self):
        extra = [path("<int:pk>/deploy/", self.admin_site.admin_view(self.deploy_view),
                      name="workloads_workload_deploy"),
                 path("<int:pk>/control/<str:verb>/",
                      self.admin_site.admin_view(self.control_view),
                      name="workloads_workload_control")]
        return extra + super().get_urls()

    def deploy_view(self, request, pk):
        workload = get_object_or_404(Workload, pk=pk)
        deploy = admin_panels.action(admin_panels.DEPLOY_ACTION)
        if deploy is None:
            raise Http404
        if request.method != "POST" or not self.has_change_permission(request, workload):
            return redirect("admin:workloads_workload_change", pk)
        deploy.function(self, request, Workload.objects.filter(pk=pk))
        return redirect("admin:workloads_workload_change", pk)

    def control_view(self, request, pk, verb):
        """Start, stop, restart (apps.workloads.controls). Stop asks first: a GET shows a
        confirmation page, the POST acts."""
        workload = get_object_or_404(Workload, pk=pk)
        control = CONTROLS.get(verb)
        if control is None:
            raise Http404
        allowed = request.user.is_staff and self.has_change_permission(request, workload)
        if request.method != "POST" or not allowed:
            if allowed and verb == "stop":
                return TemplateResponse(request, "admin/workloads/workload/stop_confirm.html", {
                    **self.admin_site.each_context(request), "workload": workload,
                    "opts": self.opts, "title": _("Stop %(name)s?") % {"name": workload.name},
                })
            return redirect("admin:workloads_workload_change", pk)
        try:
            control[0](workload, user=request.user)
            self.message_user(request, control[1] % {"name": workload.name})
        except actions.Conflict as exc:
            self.message_user(request, exc.message, messages.ERROR)
        except EngineError as exc:
            self.message_user(request, _("The Docker engine could not do this (%(code)s).")
                              % {"code": exc.code}, messages.ERROR)
        return redirect("admin:workloads_workload_change", pk)

    # Saving goes through apps.workloads.actions, exactly like the API: the same checks (names,
    # references, chain cycles, volume names) and the same side effects (events, engine names
    # kept across a rename). When the actions refuse, the whole save is rolled back and the form
    # is shown again with their errors.

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.acting_user = request.user
        refused = getattr(request, "tinyforge_refused", None)
        if refused:
            form = type(form.__name__, (form,), {"refused": refused})
        return form

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except RefusedByActions as refused:
            # The admin's atomic block has undone everything; render the form with the errors.
            request.tinyforge_refused = refused.errors
            return super().changeform_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        """Nothing here: the workload is saved with its env, volumes and chain, through the
        actions, in save_related (which sees the inline formsets)."""

    def get_readonly_fields(self, request, obj=None):
        # A workload changes host only by a move (deploy there first, then tear down here).
        return (*super().get_readonly_fields(request, obj), *(("host",) if obj else ()))

    def save_related(self, request, form, formsets, change):
        own = {EnvVar: "env", Volume: "volumes", Container: None}
        values = self._action_values(form)
        for formset in formsets:
            if formset.model in own and own[formset.model]:
                values[own[formset.model]] = _inline_rows(formset)
        try:
            with transaction.atomic():
                if change:
                    workload = actions.update_workload(
                        Workload.objects.get(pk=form.instance.pk), values, user=request.user)
                else:
                    workload = actions.create_workload(
                        **values, host=form.cleaned_data.get("host"), user=request.user)
        except actions.InvalidInput as exc:
            raise RefusedByActions(exc.errors) from None
        except actions.Conflict as exc:
            raise RefusedByActions({exc.field: exc.message}) from None
        _copy_saved(workload, form.instance)
        for formset in formsets:
            if formset.model in own:
                # Saved by the action; the change message still expects these lists.
                formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
            else:
                self.save_formset(request, form, formset, change=change)

    @staticmethod
    def _action_values(form):
        data = form.cleaned_data
        values = {
            "name": data.get("name"), "kind": data.get("kind"), "spec": data.get("spec"),
            "ref_id": data.get("ref_id") or None, "auto_backup": data.get("auto_backup"),
            "chain": [w.pk for w in data.get("chain") or []],
        }
        values.update({key: data[key] for key in actions.TRANSLATED if key in data})
        return values

    def delete_model(self, request, obj):
        try:
            actions.delete_workload(obj)
        except EngineError as exc:
            self.message_user(request, _("Could not tear down the containers (%(code)s).")
                              % {"code": exc.code}, messages.ERROR)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)


# verb -> (the one entry point, the message once done)
CONTROLS = {
    "start": (controls.do_start, _("Started %(name)s.")),
    "stop": (controls.do_stop, _("Stopped %(name)s.")),
    "restart": (controls.do_restart, _("Restarted %(name)s.")),
}


def _deploy_model():
    return Workload._meta.get_field("deploys").related_model


def _inline_rows(formset):
    """The rows an inline formset holds after the edit, as the actions take them."""
    rows = []
    for form in formset.forms:
        data = form.cleaned_data
        if not data or data.get("DELETE"):
            continue
        rows.append({key: value for key, value in data.items()
                     if key not in ("id", "workload", "DELETE")})
    return rows


def _copy_saved(workload, instance):
    """Make the admin's in-memory object the saved row (the redirect and log need its pk)."""
    for field in Workload._meta.concrete_fields:
        setattr(instance, field.attname, getattr(workload, field.attname))
    instance._state.adding = False
    instance._state.db = workload._state.db


class RegistryCredentialForm(forms.ModelForm):
    password = forms.CharField(label=_("password"), widget=SecretValueWidget(), required=False)

    class Meta:
        model = RegistryCredential
        fields = ("host", "username", "password")

    def clean_password(self):
        value = self.cleaned_data.get("password")
        if not value and self.instance.pk:
            return self.instance.password
        if not value:
            raise forms.ValidationError(_("This field is required."))
        return value


@admin.register(RegistryCredential)
class RegistryCredentialAdmin(TitledAdmin, admin.ModelAdmin):
    titles = {
        "changelist": _("Select registry credential to change"),
        "view_changelist": _("Select registry credential to view"),
        "add": _("Add registry credential"),
        "change": _("Change registry credential"),
        "view": _("View registry credential"),
    }
    form = RegistryCredentialForm
    list_display = ("host", "username", "created_at")


@admin.register(ApiToken)
class ApiTokenAdmin(TitledAdmin, admin.ModelAdmin):
    titles = {
        "view_changelist": _("Select API token to view"),
        "add": _("Add API token"),
        "view": _("View API token"),
    }
    list_display = ("prefix", "user", "name", "created_at", "last_used_at")
    fields = ("user", "name")

    def has_change_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        row, raw = ApiToken.issue(obj.user, obj.name)
        obj.pk = row.pk
        self.message_user(request, _("New token (shown once): %(token)s") % {"token": raw},
                          messages.WARNING)


class EventKindFilter(admin.SimpleListFilter):
    """The kinds present, by their label (codes stay in the URL)."""

    title = _("kind")
    parameter_name = "kind"

    def lookups(self, request, model_admin):
        kinds = EventLog.objects.order_by("kind").values_list("kind", flat=True).distinct()
        return [(kind, event_kind_label(kind)) for kind in kinds]

    def queryset(self, request, queryset):
        return queryset.filter(kind=self.value()) if self.value() else queryset


@admin.register(EventLog)
class EventLogAdmin(TitledAdmin, admin.ModelAdmin):
    titles = {
        "changelist": _("Select event to change"),
        "view_changelist": _("Select event to view"),
        "change": _("Change event"),
        "view": _("View event"),
    }
    list_display = ("created_at", "workload", "host", "kind_label", "message")
    list_filter = (EventKindFilter, "host")
    list_select_related = ("workload", "host")
    readonly_fields = ("workload", "host", "kind_label", "message", "created_at")
    fields = readonly_fields

    @admin.display(description=_("kind"), ordering="kind")
    def kind_label(self, obj):
        return event_kind_label(obj.kind)

    def has_add_permission(self, request):
        return False


class HostForm(forms.ModelForm):
    """Keys are write-only: the fields start empty, and an empty field keeps the stored key."""

    tls_key = forms.CharField(label=_("TLS client key"), widget=SecretValueWidget(),
                              required=False)
    ssh_key = forms.CharField(label=_("SSH private key"), widget=SecretValueWidget(),
                              required=False)

    class Meta:
        model = Host
        fields = ("name", "engine_url", "tls_ca", "tls_cert", "tls_key", "ssh_key",
                  "proxy_admin", "max_deploys")

    def clean(self):
        data = super().clean()
        values = {field: data.get(field) for field in hosts.FIELDS}
        for secret in ("tls_key", "ssh_key"):
            if not values[secret]:
                values[secret] = None if self.instance.pk else ""
        try:
            # Checked here (the form shows the errors); saved by HostAdmin.save_model, through
            # the same functions as the API.
            hosts.clean_host_values(values, self.instance if self.instance.pk else None)
        except actions.InvalidInput as exc:
            for key, message in exc.errors.items():
                self.add_error(key if key in self.fields else None, message)
        except actions.Conflict as exc:
            self.add_error(exc.field if exc.field in self.fields else None, exc.message)
        self.host_values = values
        return data


@admin.register(Host)
class HostAdmin(TitledAdmin, admin.ModelAdmin):
    titles = {
        "changelist": _("Select host to change"),
        "view_changelist": _("Select host to view"),
        "add": _("Add host"),
        "change": _("Change host"),
        "view": _("View host"),
    }
    form = HostForm
    list_display = ("name", "engine_url", "state", "last_checked_at", "engine_summary")
    readonly_fields = ("is_local", "state", "failed_checks", "last_checked_at", "last_error",
                       "engine_summary")
    actions = ["test_connection"]

    @admin.display(description=_("engine"))
    def engine_summary(self, obj):
        info = obj.engine_info or {}
        if not info:
            return "—"
        return _("Docker %(version)s, cgroup v%(cgroup)s, %(cpus)s CPU, %(memory)s MiB") % {
            "version": info.get("version", "?"), "cgroup": info.get("cgroup_version", "?"),
            "cpus": info.get("cpus", "?"), "memory": int(info.get("memory", 0)) // 2**20}

    def save_model(self, request, obj, form, change):
        if change:
            hosts.update_host(Host.objects.get(pk=obj.pk), form.host_values)
        else:
            created = hosts.create_host(form.host_values)
            obj.pk = created.pk

    def delete_model(self, request, obj):
        try:
            hosts.delete_host(obj)
        except actions.Conflict as exc:
            self.message_user(request, exc.message, messages.ERROR)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and not (obj and obj.is_local)

    @admin.action(description=_("Test the connection"))
    def test_connection(self, request, queryset):
        for host in queryset:
            try:
                facts = hosts.test_connection(host)
            except EngineError as exc:
                self.message_user(request, _("%(name)s does not answer (%(code)s).") % {
                    "name": host.name, "code": exc.code}, messages.ERROR)
                continue
            self.message_user(request, _(
                "%(name)s answers: Docker %(version)s, cgroup v%(cgroup)s, %(cpus)s CPU, "
                "%(memory)s MiB.") % {
                    "name": host.name, "version": facts["version"],
                    "cgroup": facts["cgroup_version"], "cpus": facts["cpus"],
                    "memory": facts["memory"] // 2**20})
