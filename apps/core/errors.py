"""The error types every app raises, their JSON shape and the API's exception handlers.

Every error answer is ``{"detail": "<field>: message", ...}``; bad input adds ``errors`` (every
field and its message), a conflict adds ``field``. ``install_handlers(api)`` wires them into a
NinjaAPI; an app with its own error type installs its own handler with ``error_response``."""
import json
import logging
import traceback

from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from django.utils.translation import gettext as _
from ninja.errors import AuthenticationError, HttpError, ValidationError

from apps.core.crypto import mask, registered_secret_values

log = logging.getLogger("tinyforge.api")


class InvalidInput(Exception):
    """Bad input; ``errors`` maps field paths to messages."""

    def __init__(self, errors):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class NotAllowed(InvalidInput):
    """Valid input this user may not use (an API 403); ``errors`` maps field paths to messages."""


class Conflict(Exception):
    def __init__(self, field, message):
        super().__init__(message)
        self.field = field
        self.message = message


def error_response(api, request, status, detail, **extra):
    return api.create_response(request, {"detail": str(detail), **extra}, status=status)


def install_handlers(api):
    """Map every shared error type (and ninja's and Django's) to the JSON error shape."""

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
        return error_response(api, request, 422, f"{first[0]}: {first[1]}", errors=errors)

    def on_invalid_input(request, exc):
        first = next(iter(exc.errors.items()))
        return error_response(api, request, 422, f"{first[0]}: {first[1]}", errors=exc.errors)

    def on_not_allowed(request, exc):
        first = next(iter(exc.errors.items()))
        return error_response(api, request, 403, f"{first[0]}: {first[1]}", errors=exc.errors)

    def on_http_error(request, exc):
        return error_response(api, request, exc.status_code, str(exc))

    def on_too_big(request, exc):
        return error_response(api, request, 413, _("The request body is too large."))

    def on_unhandled(request, exc):
        """A bug: the traceback goes to the server log (masked), the caller gets a plain 500."""
        text = "".join(traceback.format_exception(exc))
        try:
            secrets = registered_secret_values() + _secret_values_in_body(request)
        except Exception:  # noqa: BLE001 - the database may be what failed; log no text then
            secrets = None
        if secrets is None:
            frames = "".join(traceback.format_list(traceback.extract_tb(exc.__traceback__)))
            text = f"{frames}{type(exc).__name__} (message withheld: secrets could not be read)"
        else:
            text = mask(text, secrets)
        log.error("unhandled error on %s %s\n%s", request.method, request.path, text)
        return error_response(api, request, 500,
                              _("Internal server error; the server log has the details."))

    def on_conflict(request, exc):
        return error_response(api, request, 409, exc.message, field=exc.field)

    def on_unauthenticated(request, exc):
        return error_response(api, request, 401, _("Authentication required."))

    def on_not_found(request, exc):
        return error_response(api, request, 404, _("Not found."))

    for error, handler in (
        (ValidationError, on_validation_error),
        (InvalidInput, on_invalid_input),
        (NotAllowed, on_not_allowed),
        (HttpError, on_http_error),
        (RequestDataTooBig, on_too_big),
        (Exception, on_unhandled),
        (Conflict, on_conflict),
        (AuthenticationError, on_unauthenticated),
        (Http404, on_not_found),
    ):
        api.add_exception_handler(error, handler)


def _secret_values_in_body(request):
    """Write-only values of the request itself (a password or secret being saved), which are not
    yet stored where the registered secret sources look."""
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
