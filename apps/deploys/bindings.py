"""State changes to triggers and their bindings, and the webhook receiver's decision (the same
for every dialect: see ``receive_webhook``).

Shared by the API and the admin. Deploys themselves still start only in dispatch."""
import hashlib
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from apps.core.errors import Conflict, InvalidInput
from apps.deploys.dispatch import fire_trigger
from apps.deploys.hook_reasons import REASONS
from apps.deploys.ledger import current_deploy
from apps.deploys.models import HookDelivery, Status, Trigger, WebhookDelivery
from apps.deploys.triggers import TriggerConfigError, dialects, get_trigger_kind
from apps.deploys.triggers.dialects.base import DELETE, PING, PULL, PUSH, TAG
from apps.workloads.references import split_reference

DELIVERY_MEMORY = timedelta(minutes=10)
MAX_SECRET_LENGTH = 256


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


@dataclass
class HookAnswer:
    """What a webhook call came to: the deploys it started (maybe none) and why."""

    outcome: str
    reason: str  # a key of hook_reasons.REASONS
    dialect: str = ""
    event: str = ""
    deploys: list = field(default_factory=list)

    @property
    def reason_text(self):
        return str(REASONS[self.reason])


class HookRefused(Exception):
    """The call did not prove it knows the secret (401), or named no known dialect."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


def receive_webhook(trigger, headers, body):
    """Decide on one webhook call and fan out; the one place that decides what a call deploys,
    whatever its dialect. Returns a HookAnswer (its ``deploys`` empty when nothing matched).

    Raises HookRefused when no dialect recognises the call, the trigger has no secret, or the
    signature/token is wrong; InvalidInput when the authenticated body is malformed. Every call
    is written to the trigger's delivery log (``HookDelivery``), refused ones included.
    """
    dialect = dialects.detect(headers)
    if dialect is None:
        _record(trigger, HookDelivery.Outcome.REFUSED, "dialect")
        raise HookRefused("dialect")
    try:
        dialect.authenticate(trigger.secret, headers, body)
    except PermissionError:
        reason = "no_secret" if not trigger.secret else "signature"
        _record(trigger, HookDelivery.Outcome.REFUSED, reason, dialect=dialect.name)
        raise HookRefused(reason) from None
    try:
        delivery = dialect.parse(headers, body)
    except InvalidInput:
        _record(trigger, HookDelivery.Outcome.REFUSED, "malformed", dialect=dialect.name)
        raise
    workloads, reason = decide(trigger, delivery)
    if workloads and _seen_before(trigger, delivery.replay_key, body):
        # A retry (GitLab, a registry) or a redelivery: answered 2xx, or the sender retries
        # again (a registry forever; GitLab disables a hook that keeps failing).
        workloads, reason = [], "replayed"
    if not workloads:
        _record(trigger, HookDelivery.Outcome.IGNORED, reason, delivery=delivery)
        return HookAnswer(HookDelivery.Outcome.IGNORED, reason, delivery.dialect, delivery.event)
    deploys = fire_trigger(trigger, workloads=workloads)
    _record(trigger, HookDelivery.Outcome.MATCHED, "matched", delivery=delivery, deploys=deploys)
    return HookAnswer(HookDelivery.Outcome.MATCHED, "matched", delivery.dialect, delivery.event,
                      deploys)


def decide(trigger, delivery):
    """(workloads to deploy, reason): the bound workloads a delivery's events match.

    Only pushes of branches, tags and manifests deploy. Git pushes go to every bound workload
    when the trigger's branch/tag filter (if any) names their ref. A registry manifest push goes
    only to the workloads whose image has that repository (and tag, when the event names one),
    and not to one that already runs that digest: its own pull cannot start it again."""
    deployable = [event for event in delivery.events if event.kind in (PUSH, TAG)]
    if not deployable:
        return [], _why_not(delivery.events)
    workloads = list(trigger.workloads.order_by("pk"))
    if not workloads:
        return [], "unbound"
    if delivery.dialect == "registry":
        return _match_images(trigger.config, workloads, deployable)
    if not any(ref_matches(trigger.config, event) for event in deployable):
        return [], "branch"
    return workloads, "matched"


def _why_not(events):
    kinds = {event.kind for event in events}
    for kind, reason in ((DELETE, "deleted"), (PING, "ping"), (PULL, "pull")):
        if kind in kinds:
            return reason
    return "event"


def ref_matches(config, event):
    """Whether a git event passes the trigger's filter (no filter: every push and tag)."""
    branch, tag = config.get("branch"), config.get("tag")
    if not branch and not tag:
        return True
    return bool((branch and event.branch == branch) or (tag and event.tag == tag))


def image_of(workload):
    """(repository path as a registry names it, tag) of an image workload, else None."""
    image = (workload.spec or {}).get("image") if workload.kind == "image" else None
    try:
        ref = split_reference(image) if isinstance(image, str) else None
    except ValueError:
        return None
    if ref is None:
        return None
    path = ref.repository
    if ref.registry != "docker.io":
        path = path[len(ref.registry) + 1:]
    elif "/" not in path:
        path = "library/" + path
    return path, ref.tag


def _match_images(config, workloads, events):
    wanted_tag = config.get("tag")
    chosen, reason = [], "image"
    for workload in workloads:
        image = image_of(workload)
        if image is None:
            continue
        hits = [event for event in events
                if event.repository == image[0]
                and (not event.tag or event.tag == image[1])
                and (not wanted_tag or event.tag == wanted_tag)]
        if not hits:
            continue
        current = current_deploy(workload)
        if current is not None and current.pinned_ref in {event.digest for event in hits}:
            reason = "running"
            continue
        if workload.deploys.filter(status__in=(Status.QUEUED, Status.WAITING)).exists():
            # Not started yet, so it will pull the tag as it is now: this push included.
            reason = "queued"
            continue
        chosen.append(workload)
    return chosen, ("matched" if chosen else reason)


def _record(trigger, outcome, reason, *, dialect="", delivery=None, deploys=()):
    """One line in the trigger's delivery log; only the newest KEEP lines are kept."""
    HookDelivery.objects.create(
        trigger=trigger, outcome=outcome, reason=reason,
        dialect=delivery.dialect if delivery else dialect,
        event=_printable(delivery.event, 40) if delivery else "",
        delivery=_printable(delivery.replay_key, 100) if delivery else "",
        deploy_ids=[deploy.pk for deploy in deploys])
    oldest_kept = (HookDelivery.objects.filter(trigger=trigger).order_by("-id")
                   .values_list("pk", flat=True)[HookDelivery.KEEP - 1:HookDelivery.KEEP])
    if oldest_kept:
        HookDelivery.objects.filter(trigger=trigger, pk__lt=oldest_kept[0]).delete()


def _printable(text, limit):
    return "".join(ch for ch in (text or "")[:limit] if ch.isprintable())


def _seen_before(trigger, replay_key, body):
    """Whether this delivery (the sender's delivery id, or else the body itself: a signed body
    resent without an id is the same delivery) was received within DELIVERY_MEMORY."""
    key = ("id:" + replay_key[:190]) if replay_key else (
        "sha256:" + hashlib.sha256(body or b"").hexdigest())
    WebhookDelivery.objects.filter(received_at__lt=timezone.now() - DELIVERY_MEMORY).delete()
    try:
        with transaction.atomic():
            WebhookDelivery.objects.create(trigger=trigger, delivery_id=key)
    except IntegrityError:
        return True
    return False
