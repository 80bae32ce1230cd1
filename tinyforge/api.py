"""The REST API, assembled: one NinjaAPI with core's auth and error handlers, and every app's
router mounted the same way. Nothing is defined here; nothing imports this but the URLconf."""
from django.utils.module_loading import import_string
from ninja import NinjaAPI

from apps.core import auth, errors

# Each app's router, by dotted path (imported when mounted, so this module imports no app).
ROUTERS = [
    "apps.workloads.api.router",
    "apps.workloads.host_api.router",
    "apps.deploys.api.router",
    "apps.deploys.trigger_api.router",
    "apps.metrics.api.router",
]
# Handlers for an app's own error types, by dotted path; each takes the api.
APP_HANDLERS = [
    "apps.workloads.api.install_handlers",
]

api = NinjaAPI(
    title="TinyForge API",
    version="1",
    description="Workloads, deploys, rollbacks and metrics for a Docker host.",
    auth=auth.DEFAULT,
    urls_namespace="api",
)
errors.install_handlers(api)
for path in APP_HANDLERS:
    import_string(path)(api)
for path in ROUTERS:
    api.add_router("/", path)
