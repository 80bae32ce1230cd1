"""The contract of a webhook dialect: how one kind of sender speaks to ``POST /api/hooks/{token}``.

A dialect is a stateless object with

- ``name`` (registry key, stored in the delivery log), ``label`` (for people) and
  ``content_type`` (what the sender must be told to send);
- ``detect(headers) -> bool``: whether a request comes from this kind of sender, from its
  headers (and content type) only — the body is not trusted before ``authenticate``;
- ``authenticate(secret, headers, body)``: raises ``PermissionError`` unless the request proves
  it knows the trigger's ``secret`` (signature or token), compared in constant time
  (``hmac.compare_digest``) over the raw body as received; an empty secret refuses everything;
- ``parse(headers, body) -> Delivery``: the normalized events of an authenticated request;
  raises ``InvalidInput`` naming the field (``body``, ``body.ref``, ``header X-...``) when the
  body is malformed. Never decides what deploys: that is ``apps.deploys.bindings``' job, the same
  for every dialect;
- ``setup(trigger, hook_url) -> dict``: what to paste into the sender's settings (no secret
  value: the secret is write-only, so say where it was shown).

Dialects hold no state and import no models: ``bindings.receive_webhook`` hands them the secret
and the request, and gets back a ``Delivery``.
"""
import hashlib
import hmac
import json
from dataclasses import dataclass, field

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.core.errors import InvalidInput

ZERO_SHA = "0" * 40

# Normalized event kinds: what the decision in bindings looks at.
PUSH = "push"        # new commits on a branch, or a manifest pushed to a registry
TAG = "tag"          # a tag created or moved
DELETE = "delete"    # a branch, tag or manifest deleted: never deploys
PING = "ping"        # "the hook works": never deploys
PULL = "pull"        # a registry pull (deploys pull too): never deploys
OTHER = "other"      # anything else the sender tells about (issues, layers...): never deploys

SECRET_WHERE = gettext_lazy(
    "the trigger's secret: shown once in the response that created it (or the one you set); "
    "TinyForge never shows it again — set a new one with PATCH /api/triggers/{id} if lost")
URL_WHERE = gettext_lazy(
    "the hook URL shown once when it was issued; POST /api/triggers/{id}/new-hook-url issues "
    "a new one")


@dataclass(frozen=True)
class HookEvent:
    kind: str
    ref: str = ""          # refs/heads/main, refs/tags/v1 (git senders)
    branch: str = ""
    tag: str = ""
    repository: str = ""   # git: owner/name; registry: the image repository path
    digest: str = ""       # registry: the manifest digest
    event_id: str = ""     # registry: the event's own id


@dataclass
class Delivery:
    """One authenticated request, normalized."""

    dialect: str
    event: str                    # the sender's own name for it ("push", "Tag Push Hook", ...)
    events: list = field(default_factory=list)
    replay_key: str = ""          # the sender's delivery id; "" = use the body's SHA-256


class Dialect:
    name = ""
    label = ""
    content_type = "application/json"

    def detect(self, headers):
        raise NotImplementedError

    def authenticate(self, secret, headers, body):
        raise NotImplementedError

    def parse(self, headers, body):
        raise NotImplementedError

    def setup(self, trigger, hook_url):
        if hook_url and hook_url.startswith("/"):
            # A path: the sender needs the address it reaches TinyForge at in front of it.
            public = (getattr(settings, "TINYFORGE_PUBLIC_URL", "")
                      or "<" + _("TinyForge's address") + ">")
            hook_url = public.rstrip("/") + hook_url
        return {"dialect": self.name, "label": str(self.label),
                "url": hook_url or str(URL_WHERE).replace("{id}", str(trigger.pk)),
                "content_type": self.content_type,
                "secret": str(SECRET_WHERE).replace("{id}", str(trigger.pk)),
                "headers": {}, "snippet": "", "events": ""}


def same(given, expected):
    """Constant-time comparison of two header values (str), whatever they contain."""
    return hmac.compare_digest((given or "").encode(errors="replace"),
                               (expected or "").encode(errors="replace"))


def hmac_hex(secret, body):
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def header_id(headers, *names):
    """The first non-empty delivery id among ``names``, bounded and printable, or ""."""
    for name in names:
        value = headers.get(name) or ""
        if value:
            return "".join(ch for ch in value[:190] if ch.isprintable())
    return ""


def load_json_object(raw, field_name="body"):
    """The JSON object in ``raw`` (bytes or str); InvalidInput naming ``field_name`` otherwise."""
    try:
        payload = json.loads(raw)
    except RecursionError:
        raise InvalidInput({field_name: _("The JSON is nested too deeply.")}) from None
    except ValueError:  # also bad UTF-8 and integers too long to convert
        raise InvalidInput({field_name: _("Not valid JSON.")}) from None
    if not isinstance(payload, dict):
        raise InvalidInput({field_name: _("Must be a JSON object.")})
    return payload


def git_ref_event(payload, *, deleted=None):
    """The HookEvent of a git push payload (GitHub, Gitea and GitLab share ``ref``/``after``):
    a push to a branch, a tag, or a deletion of either."""
    ref = payload.get("ref")
    if not isinstance(ref, str) or not ref or len(ref) > 255 or not ref.isprintable():
        raise InvalidInput({"body.ref": _("Must be a git ref such as refs/heads/main.")})
    after = payload.get("after")
    if deleted is None:
        deleted = payload.get("deleted") is True or after == ZERO_SHA
    repository = payload.get("repository")
    name = ""
    if isinstance(repository, dict):
        for key in ("full_name", "path_with_namespace", "name"):
            if isinstance(repository.get(key), str):
                name = repository[key][:200]
                break
    branch = ref[len("refs/heads/"):] if ref.startswith("refs/heads/") else ""
    tag = ref[len("refs/tags/"):] if ref.startswith("refs/tags/") else ""
    kind = DELETE if deleted else (TAG if tag else PUSH)
    return HookEvent(kind=kind, ref=ref, branch=branch, tag=tag, repository=name)
