from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from apps.metrics.views import prometheus
from tinyforge.api import api

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("metrics", prometheus, name="metrics"),
]
