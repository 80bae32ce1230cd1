"""State changes to triggers and their bindings, and the webhook receiver's decision.

Shared by the API and the admin. Deploys themselves still start only in dispatch."""
import hashlib
import json
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from apps.core.errors import Conflict, InvalidInput
from apps.deploys.dispatch import fire_trigger
from apps.deploys.models import Trigger, WebhookDelivery
from apps.deploys.triggers import TriggerConfigError, get_trigger_kind

DELIVERY_MEMORY = timedelta(minutes=10)
MAX_SECRET_LENGTH = 256
DELIVERY_HEADERS = ("X-GitHub-Delivery", "X-Gitea-Delivery", "X-Gogs-Delivery", "X-Delivery-Id")


def _clean(kind, config, name):
    errors = {}
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        errors["name"] = _("Give a name of 1 to 100 characters.")
    try:
        config = get_trigger_kind(kind).validate(config)
    except TriggerConfigError as exc:
        errors.update(exc.errors)
    if errors:
        raise InvalidInput(errors)
    return config


def clean_secret(kind, value, *, creating):
    """The secret to store, or None to keep the stored one (or, on create, to generate one).

    A webhook always has a secret: an empty one is refused on update, and on create it means
    "generate one". Other kinds take none. Raises InvalidInput naming ``secret``."""
    if value is None or (creating and value == ""):
        return None
    uses_secret = get_trigger_kind(kind).uses_secret
    if not uses_secret:
        if value == "":
            return None
        raise InvalidInput({"secret": _("This kind of trigger takes no secret.")})
    if not value.strip():
        raise InvalidInput({"secret": _("A webhook needs a secret; it cannot be emptied.")})
    if len(value) > MAX_SECRET_LENGTH or not value.isprintable():
        raise InvalidInput({"secret": ngettext(
            "Give at most %(max)s printable character.",
            "Give at most %(max)s printable characters.", MAX_SECRET_LENGTH)
            % {"max": MAX_SECRET_LENGTH}})
    return value


def create_trigger(*, name, kind, config=None, secret=""):
    """Create a trigger; raises InvalidInput or Conflict (duplicate name).

    The returned instance carries ``raw_token`` (the hook token, shown once) and, when no
    secret was given to a webhook, ``generated_secret`` (also shown once)."""
    config = _clean(kind, config or {}, name)
    secret = clean_secret(kind, secret, creating=True)
    if Trigger.objects.filter(name=name).exists():
        raise _duplicate(name)
    try:
        with transaction.atomic():  # a savepoint: the failed insert must not spoil the caller's
            return Trigger.objects.create(name=name, kind=kind, config=config, secret=secret or "")
    except IntegrityError:  # lost a race with another create of the same name
        raise _duplicate(name) from None


def update_trigger(trigger, changes):
    name = changes.get("name", trigger.name)
    config = _clean(trigger.kind, changes.get("config", trigger.config), name)
    secret = clean_secret(trigger.kind, changes.get("secret"), creating=False)
    if Trigger.objects.exclude(pk=trigger.pk).filter(name=name).exists():
        raise _duplicate(name)
    trigger.name, trigger.config = name, config
    if secret is not None:
        trigger.secret = secret
    trigger.save()
    return trigger


def reissue_hook_token(trigger):
    """A new hook URL for the trigger; the old one stops working at once."""
    trigger.issue_hook_token()
    trigger.save(update_fields=["token_hash"])
    return trigger


def _duplicate(name):
    return Conflict("name", _("A trigger named '%(name)s' already exists.") % {"name": name})


def bind(trigger, workload):
    trigger.workloads.add(workload)


def unbind(trigger, workload):
    trigger.workloads.remove(workload)


class Replayed(Conflict):
    """The same delivery came in again within the replay window: nothing is dispatched."""

    def __init__(self):
        minutes = int(DELIVERY_MEMORY.total_seconds() // 60)
        super().__init__("delivery", ngettext(
            "This delivery was received already within the last %(minutes)s minute; nothing "
            "was dispatched. Send a new delivery id or a different body.",
            "This delivery was received already within the last %(minutes)s minutes; nothing "
            "was dispatched. Send a new delivery id or a different body.", minutes,
        ) % {"minutes": minutes})


def receive_webhook(trigger, headers, body):
    """Decide on one webhook call and fan out. Returns the Deploy rows (empty when the
    filter did not match).

    Raises PermissionError when the trigger has no secret or the signature is missing or
    wrong, InvalidInput when the (signed) body is not a JSON object, Replayed when the delivery
    was seen within the replay window. In each case nothing is dispatched.
    """
    kind = get_trigger_kind(trigger.kind)
    kind.verify(trigger, headers, body)
    payload = parse_payload(body)
    if not kind.accepts(trigger, headers, payload):
        return []
    if _seen_before(trigger, headers, body):
        raise Replayed()
    return fire_trigger(trigger)


def parse_payload(body):
    """The JSON object a webhook sent (an empty body counts as ``{}``); InvalidInput otherwise."""
    if not body:
        return {}
    try:
        payload = json.loads(body)
    except RecursionError:
        raise InvalidInput({"body": _("The JSON is nested too deeply.")}) from None
    except ValueError:  # also bad UTF-8 and integers too long to convert
        raise InvalidInput({"body": _("Not valid JSON.")}) from None
    if not isinstance(payload, dict):
        raise InvalidInput({"body": _("Must be a JSON object.")})
    return payload


def delivery_key(headers, body):
    """What identifies a delivery: the sender's delivery id, or else the body itself — a
    signed body resent without an id is the same delivery."""
    delivery = next((headers[h] for h in DELIVERY_HEADERS if headers.get(h)), None)
    if delivery:
        return "id:" + delivery[:190]
    return "sha256:" + hashlib.sha256(body or b"").hexdigest()


def _seen_before(trigger, headers, body):
    WebhookDelivery.objects.filter(received_at__lt=timezone.now() - DELIVERY_MEMORY).delete()
    try:
        with transaction.atomic():
            WebhookDelivery.objects.create(trigger=trigger,
                                           delivery_id=delivery_key(headers, body))
    except IntegrityError:
        return True
    return False
