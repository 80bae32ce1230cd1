"""The REST API: one NinjaAPI, its auth classes and error handlers; each app adds a router."""
import json
import logging
import traceback

from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import HttpBearer, SessionAuth

from apps.workloads.actions import Conflict, InvalidInput, NotAllowed
from apps.workloads.engine import EngineError
from apps.workloads.models import ApiToken, hash_token
from apps.workloads.secrets import known_secret_values, mask

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


class StaffOnly:
    """Wraps an auth class for the operations that change things: a caller it recognises who is
    not active staff gets 403 here, before the payload is validated, so a read-only user learns
    nothing about the fields an operation takes. A caller it does not recognise falls through
    to the next auth class (and, if none recognises them, to the 401)."""

    def __init__(self, auth):
        self.auth = auth

    def __call__(self, request):
        user = self.auth(request)
        if user and not (user.is_active and user.is_staff):
            raise HttpError(403, _("Only staff users may change things."))
        return user


api = NinjaAPI(
    title="TinyForge API",
    version="1",
    description="Workloads, deploys, rollbacks and metrics for a Docker host.",
    auth=[BearerTokenAuth(), LoggedInSessionAuth()],  # token first: CSRF must not hide it
    urls_namespace="api",
)


# The auth of every operation that changes something (reads use the API default).
STAFF = [StaffOnly(BearerTokenAuth()), StaffOnly(LoggedInSessionAuth())]


def require_staff(request):
    """The acting staff user. The STAFF auth has already refused anyone else; this stays as a
    second line in case an operation is declared without it."""
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
        loc = [str(part) for part in item.get("loc", ())]
        # ("body", "payload", "env", 0, "key") -> "env.0.key"; ("query", "page") -> "page"
        if loc[:1] and loc[0] in ("body", "query", "path", "header", "cookie"):
            loc = loc[1:]
        if loc[:1] == ["payload"]:
            loc = loc[1:]
        errors[".".join(loc) or "body"] = item.get("msg", "")
    first = next(iter(errors.items()), ("body", ""))
    return _error(request, 422, f"{first[0]}: {first[1]}", errors=errors)


@api.exception_handler(InvalidInput)
def on_invalid_input(request, exc):
    first = next(iter(exc.errors.items()))
    return _error(request, 422, f"{first[0]}: {first[1]}", errors=exc.errors)


@api.exception_handler(NotAllowed)
def on_not_allowed(request, exc):
    first = next(iter(exc.errors.items()))
    return _error(request, 403, f"{first[0]}: {first[1]}", errors=exc.errors)


@api.exception_handler(HttpError)
def on_http_error(request, exc):
    return _error(request, exc.status_code, str(exc))


@api.exception_handler(RequestDataTooBig)
def on_too_big(request, exc):
    return _error(request, 413, _("The request body is too large."))


@api.exception_handler(Exception)
def on_unhandled(request, exc):
    """A bug: the traceback goes to the server log (masked), the caller gets a plain 500."""
    text = "".join(traceback.format_exception(exc))
    try:
        secrets = known_secret_values() + _secret_values_in_body(request)
    except Exception:  # noqa: BLE001 - the database may be what failed; log no text then
        secrets = None
    if secrets is None:
        frames = "".join(traceback.format_list(traceback.extract_tb(exc.__traceback__)))
        text = f"{frames}{type(exc).__name__} (message withheld: secrets could not be read)"
    else:
        text = mask(text, secrets)
    log.error("unhandled error on %s %s\n%s", request.method, request.path, text)
    return _error(request, 500, _("Internal server error; the server log has the details."))


def _secret_values_in_body(request):
    """Write-only values of the request itself (a password or secret being saved), which are not
    yet stored where known_secret_values() looks."""
    try:
        body = json.loads(request.body or b"null")
    except Exception:  # noqa: BLE001 - unreadable or not JSON: nothing of it can be logged
        return []
    found, stack = [], [body]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if key in ("password", "secret", "value", "token") and isinstance(value, str):
                    found.append(value)
                else:
                    stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)
    return found


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
