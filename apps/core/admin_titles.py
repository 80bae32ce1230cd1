"""Whole-phrase titles for admin pages.

Django builds "Select %s to change", "Add %s" and "Change %s" from a model's verbose_name, which
cannot be declined: Russian needs "Выберите рабочую нагрузку для изменения", not the nominative
glued into a phrase. A ModelAdmin with ``TitledAdmin`` first in its bases names each title as
one translatable phrase (``titles = {"changelist": _("Select workload to change"), ...}``); a
missing key keeps Django's own. The "add" phrase also labels the list's "Add" button.
"""


class TitledAdmin:
    # "changelist", "view_changelist" (users who may only view), "add", "change", "view"
    titles: dict = {}

    def _titled(self, key, extra_context, **more):
        title = self.titles.get(key)
        words = {"title": title} if title is not None else {}
        return {**words, **more, **(extra_context or {})}

    def changelist_view(self, request, extra_context=None):
        key = "changelist" if self.has_change_permission(request) else "view_changelist"
        # The list's "Add ..." button too (tinyforge/templates/admin/change_list_object_tools.html).
        more = {"add_label": self.titles["add"]} if "add" in self.titles else {}
        return super().changelist_view(request, self._titled(key, extra_context, **more))

    def add_view(self, request, form_url="", extra_context=None):
        # The add page's last breadcrumb too (tinyforge/templates/admin/change_form.html).
        more = {"add_label": self.titles["add"]} if "add" in self.titles else {}
        return super().add_view(request, form_url, self._titled("add", extra_context, **more))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # The model-level permission: asking about the object would cost the page a query.
        key = "change" if self.has_change_permission(request) else "view"
        return super().change_view(request, object_id, form_url,
                                   self._titled(key, extra_context))
