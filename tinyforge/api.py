"""The REST API: one NinjaAPI, its auth classes and error handlers; each app adds a router."""
import logging

from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import HttpBearer, SessionAuth

from apps.workloads.actions import Conflict, InvalidInput
from apps.workloads.engine import EngineError
from apps.workloads.models import ApiToken, hash_token

log = logging.getLogger("tinyforge.api")


class BearerTokenAuth(HttpBearer):
    """``Authorization: Bearer <token>``; returns the token's user (only the hash is stored)."""

    def authenticate(self, request, token):
        row = ApiToken.objects.select_related("user").filter(token_hash=hash_token(token)).first()
        if row is None or not row.user.is_active:
            return None
        ApiToken.objects.filter(pk=row.pk).update(last_used_at=timezone.now())
        request.user = row.user
        return row.user


class LoggedInSessionAuth(SessionAuth):
    """The admin session, with CSRF enforced — but only once someone is logged in, so an
    anonymous call gets 401 (not a CSRF 403) like every other unauthenticated call."""

    def __call__(self, request):
        if not request.user.is_authenticated:
            return None
        return super().__call__(request)


api = NinjaAPI(
    title="TinyForge API",
    version="1",
    description="Workloads, deploys, rollbacks and metrics for a Docker host.",
    auth=[BearerTokenAuth(), LoggedInSessionAuth()],  # token first: CSRF must not hide it
    urls_namespace="api",
)


def require_staff(request):
    """Mutations are for staff users only (by session or by a staff user's token)."""
    user = request.auth
    if not (user and user.is_active and user.is_staff):
        raise HttpError(403, _("Only staff users may change things."))
    return user


def _error(request, status, detail, **extra):
    return api.create_response(request, {"detail": str(detail), **extra}, status=status)


@api.exception_handler(ValidationError)
def on_validation_error(request, exc):
    errors = {}
    for item in exc.errors:
        loc = [str(part) for part in item.get("loc", ()) if part not in ("body", "payload")]
        errors[".".join(loc) or "body"] = item.get("msg", "")
    first = next(iter(errors.items()), ("body", ""))
    return _error(request, 422, f"{first[0]}: {first[1]}", errors=errors)


@api.exception_handler(InvalidInput)
def on_invalid_input(request, exc):
    first = next(iter(exc.errors.items()))
    return _error(request, 422, f"{first[0]}: {first[1]}", errors=exc.errors)


@api.exception_handler(Conflict)
def on_conflict(request, exc):
    return _error(request, 409, exc.message, field=exc.field)


@api.exception_handler(AuthenticationError)
def on_unauthenticated(request, exc):
    return _error(request, 401, _("Authentication required."))


@api.exception_handler(Http404)
def on_not_found(request, exc):
    return _error(request, 404, _("Not found."))


@api.exception_handler(EngineError)
def on_engine_error(request, exc):
    log.warning("engine error on %s: %s", request.path, exc.code)
    return _error(request, 503, _("The Docker engine could not do this (%(code)s).")
                  % {"code": exc.code}, code=exc.code)


def _register_routers():
    from apps.deploys.api import router as deploys_router
    from apps.deploys.trigger_api import router as triggers_router
    from apps.workloads.api import router as workloads_router

    api.add_router("/", workloads_router)
    api.add_router("/", deploys_router)
    api.add_router("/", triggers_router)
    api.add_router("/", "apps.metrics.api.router")


_register_routers()
