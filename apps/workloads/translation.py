from modeltranslation.translator import TranslationOptions, register

from apps.workloads.models import Workload


@register(Workload)
class WorkloadTranslationOptions(TranslationOptions):
    fields = ("title", "description")
