"""Whole-phrase titles for admin pages.

Django builds "Select %s to change", "Add %s" and "Change %s" from a model's verbose_name, which
cannot be declined: Russian needs "Выберите рабочую нагрузку для изменения", not the nominative
glued into a phrase. A ModelAdmin with ``TitledAdmin`` first in its bases names each title as
one translatable phrase (``titles = {"changelist": _("Select workload to change"), ...}``); a
missing key keeps Django's own.
"""


class TitledAdmin:
    # "changelist", "view_changelist" (users who may only view), "add", "change", "view"
    titles: dict = {}

    def _titled(self, key, extra_context):
        title = self.titles.get(key)
        if title is None:
            return extra_context
        return {"title": title, **(extra_context or {})}

    def changelist_view(self, request, extra_context=None):
        key = "changelist" if self.has_change_permission(request) else "view_changelist"
        return super().changelist_view(request, self._titled(key, extra_context))

    def add_view(self, request, form_url="", extra_context=None):
        return super().add_view(request, form_url, self._titled("add", extra_context))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id) if object_id else None
        key = "change" if self.has_change_permission(request, obj) else "view"
        return super().change_view(request, object_id, form_url,
                                   self._titled(key, extra_context))
