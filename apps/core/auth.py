"""Who is calling the API: bearer tokens (only their hash is stored), the logged-in admin
session, and the staff-only wrapper for every operation that changes something.

The token model is named by ``settings.TINYFORGE_API_TOKEN_MODEL`` ("app_label.Model", like
AUTH_USER_MODEL) so core imports no app; it needs ``token_hash``, ``user`` and ``last_used_at``."""
from datetime import timedelta

from django.apps import apps
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja.errors import HttpError
from ninja.security import HttpBearer, SessionAuth

from apps.core.crypto import hash_token

# ``last_used_at`` is written at most this often per token. Writing it on every call made every
# read a database write: on SQLite each one queued for the single write lock behind PATCHes,
# deploys and the sampler, and readers spent most of their time waiting for it.
LAST_USED_RESOLUTION = timedelta(seconds=60)


def token_model():
    return apps.get_model(settings.TINYFORGE_API_TOKEN_MODEL, require_ready=True)


class BearerTokenAuth(HttpBearer):
    """``Authorization: Bearer <token>``; returns the token's user (only the hash is stored)."""

    def authenticate(self, request, token):
        model = token_model()
        try:  # get(), not first(): token_hash is unique, and first() adds an ORDER BY
            row = model.objects.select_related("user").get(token_hash=hash_token(token))
        except model.DoesNotExist:
            return None
        if not row.user.is_active:
            return None
        now = timezone.now()
        if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
            model.objects.filter(pk=row.pk).update(last_used_at=now)
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


# Token first: a failed CSRF check in the session auth must not hide a valid token.
DEFAULT = [BearerTokenAuth(), LoggedInSessionAuth()]
# The auth of every operation that changes something (reads use the API default).
STAFF = [StaffOnly(BearerTokenAuth()), StaffOnly(LoggedInSessionAuth())]


def require_staff(request):
    """The acting staff user. The STAFF auth has already refused anyone else; this stays as a
    second line in case an operation is declared without it."""
    user = request.auth
    if not (user and user.is_active and user.is_staff):
        raise HttpError(403, _("Only staff users may change things."))
    return user
