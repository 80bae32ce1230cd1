from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from apps.deploys.models import Deploy


@admin.register(Deploy)
class DeployAdmin(admin.ModelAdmin):
    list_display = ("id", "workload", "status", "reason", "short_ref", "requested_by",
                    "created_at", "error_code")
    list_filter = ("status", "reason", "source_kind")
    search_fields = ("workload__name", "pinned_ref")
    exclude = ("env_snapshot",)
    readonly_fields = ("workload", "status", "reason", "requested_by", "source_kind",
                       "pinned_ref", "pinned", "spec_snapshot", "error_code", "log",
                       "rollback_of", "promoted_from", "created_at", "started_at", "finished_at")

    @admin.display(description=_("pinned reference"))
    def short_ref(self, obj):
        return obj.pinned_ref.split(":")[-1][:12] if obj.pinned_ref else "—"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
