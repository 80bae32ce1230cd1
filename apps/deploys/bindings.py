"""State changes to triggers and their bindings, and the webhook receiver's decision.

Shared by the API and the admin. Deploys themselves still start only in dispatch."""
import json
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.deploys.dispatch import fire_trigger
from apps.deploys.models import Trigger, WebhookDelivery
from apps.deploys.triggers import TriggerConfigError, get_trigger_kind
from apps.workloads.actions import Conflict, InvalidInput

DELIVERY_MEMORY = timedelta(minutes=10)
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


def create_trigger(*, name, kind, config=None, secret=""):
    """Create a trigger; raises InvalidInput or Conflict (duplicate name)."""
    config = _clean(kind, config or {}, name)
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
    if Trigger.objects.exclude(pk=trigger.pk).filter(name=name).exists():
        raise _duplicate(name)
    trigger.name, trigger.config = name, config
    if changes.get("secret") is not None:
        trigger.secret = changes["secret"]
    trigger.save()
    return trigger


def _duplicate(name):
    return Conflict("name", _("A trigger named '%(name)s' already exists.") % {"name": name})


def bind(trigger, workload):
    trigger.workloads.add(workload)


def unbind(trigger, workload):
    trigger.workloads.remove(workload)


def receive_webhook(trigger, headers, body):
    """Decide on one webhook call and fan out. Returns the Deploy rows (empty when the
    filter did not match or the delivery was seen within 10 minutes).

    Raises PermissionError when the signature is missing or wrong: nothing is dispatched.
    """
    kind = get_trigger_kind(trigger.kind)
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        payload = None
    if not kind.accepts(trigger, headers, body, payload):
        return []
    if _seen_before(trigger, headers):
        return []
    return fire_trigger(trigger)


def _seen_before(trigger, headers):
    delivery = next((headers[h] for h in DELIVERY_HEADERS if headers.get(h)), None)
    if not delivery:
        return False
    WebhookDelivery.objects.filter(received_at__lt=timezone.now() - DELIVERY_MEMORY).delete()
    try:
        with transaction.atomic():
            WebhookDelivery.objects.create(trigger=trigger, delivery_id=delivery[:200])
    except IntegrityError:
        return True
    return False
