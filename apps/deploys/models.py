"""The deploy ledger: one row per dispatch, whatever started it."""
from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from apps.core.crypto import EncryptedTextField, hash_token
from apps.deploys.triggers import trigger_choices
from apps.workloads.engine import CODES
from apps.workloads.models import Host, Workload


def new_hook_token():
    """A fresh raw hook token (also the default of the old ``token`` column in migration 0002)."""
    import secrets

    return secrets.token_urlsafe(24)


def new_webhook_secret():
    import secrets

    return secrets.token_urlsafe(32)


class Trigger(models.Model):
    """Something that starts deploys of the workloads bound to it (see apps.deploys.triggers).

    The hook token is stored as its SHA-256 only (like API tokens): the raw token, and so the
    hook URL, exist only in the response that issued them (``raw_token`` on that instance)."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    kind = models.CharField(_("kind"), max_length=32, choices=trigger_choices)
    config = models.JSONField(_("configuration"), default=dict, blank=True)
    secret = EncryptedTextField(_("secret"), blank=True)
    token_hash = models.CharField(_("hook token (SHA-256)"), max_length=64, unique=True,
                                  editable=False)
    workloads = models.ManyToManyField(Workload, related_name="triggers", blank=True,
                                       verbose_name=_("workloads"))
    # What the trigger remembers between polls (e.g. the last digest a registry watch saw).
    state = models.JSONField(default=dict, blank=True, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    # Set on the instance only, by the call that just made them; never stored in the clear.
    raw_token = None
    generated_secret = None

    class Meta:
        verbose_name = _("trigger")
        verbose_name_plural = _("triggers")
        ordering = ["name"]

    def __str__(self):
        return self.name

    def issue_hook_token(self):
        """Replace the hook token (the old hook URL stops working); returns the raw token."""
        self.raw_token = new_hook_token()
        self.token_hash = hash_token(self.raw_token)
        return self.raw_token

    def ensure_secret(self):
        """A webhook always has a secret: generate one when there is none. Returns the
        generated secret (to show once), or None when one was already set."""
        if self.kind != "webhook" or self.secret:
            return None
        self.secret = self.generated_secret = new_webhook_secret()
        return self.generated_secret

    @property
    def needs_secret(self):
        """A webhook from before secrets were required: it refuses every call until one is set."""
        return self.kind == "webhook" and not self.secret

    @classmethod
    def find_hook(cls, raw_token):
        return cls.objects.filter(token_hash=hash_token(raw_token), kind="webhook").first()

    def save(self, *args, **kwargs):
        if not self.token_hash:
            self.issue_hook_token()
        if self._state.adding:
            self.ensure_secret()
        super().save(*args, **kwargs)


class WebhookDelivery(models.Model):
    """Delivery ids seen recently, so a replayed webhook dispatches nothing."""

    trigger = models.ForeignKey(Trigger, on_delete=models.CASCADE, related_name="deliveries")
    delivery_id = models.CharField(max_length=200)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["trigger", "delivery_id"],
                                               name="delivery_unique_per_trigger")]


class HookDelivery(models.Model):
    """The delivery log: what became of the last ``KEEP`` calls to a webhook trigger.

    Holds no secret and nothing from the body that could carry one: the dialect, the sender's
    event name and delivery id (headers, kept only once the call was authenticated), the
    outcome, a reason code from ``REASONS`` and the ids of the deploys it started."""

    KEEP = 20

    class Outcome(models.TextChoices):
        MATCHED = "matched", _("matched")
        IGNORED = "ignored", _("ignored")
        REFUSED = "refused", _("refused")

    trigger = models.ForeignKey(Trigger, on_delete=models.CASCADE, related_name="hook_log",
                                verbose_name=_("trigger"))
    received_at = models.DateTimeField(_("received"), auto_now_add=True)
    dialect = models.CharField(_("dialect"), max_length=16, blank=True)
    event = models.CharField(_("event"), max_length=40, blank=True)
    delivery = models.CharField(_("delivery id"), max_length=100, blank=True)
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices)
    reason = models.CharField(_("reason"), max_length=32)
    deploy_ids = models.JSONField(_("deploys"), default=list, blank=True)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-id"]
        indexes = [models.Index(fields=["trigger", "-id"], name="hooks_delivery_newest")]

    def __str__(self):
        return f"#{self.pk} {self.outcome} {self.reason}"

    @property
    def reason_text(self):
        from apps.deploys.hook_reasons import REASONS

        return str(REASONS.get(self.reason, self.reason))


class Status(models.TextChoices):
    QUEUED = "queued", _("queued")
    RUNNING = "running", _("running")
    SUCCEEDED = "succeeded", _("succeeded")
    FAILED = "failed", _("failed")
    INTERRUPTED = "interrupted", _("interrupted")
    # Parked by the task cluster while another deploy of the workload holds the lock; woken
    # when the lock is released (see dispatch.wake_waiting), so no worker is held meanwhile.
    WAITING = "waiting", _("waiting for the lock")
    CANCELLED = "cancelled", _("cancelled")


class Phase(models.TextChoices):
    """How far a container swap got (recorded as it goes, so recovery knows what to undo)."""

    NONE = "", _("not started")
    CREATING = "creating", _("creating the new container")
    CREATED = "created", _("new container created")
    OLD_STOPPED = "old_stopped", _("previous container stopped")
    STARTED = "started", _("new container started")
    CHECKED = "checked", _("new container passed its checks")
    ROUTED = "routed", _("proxy route switched to the new container")
    SWAPPED = "swapped", _("previous container removed")
    ROLLED_BACK = "rolled_back", _("previous container running again")


class Restored(models.TextChoices):
    """What recovery of an interrupted deploy left running."""

    NONE = "", _("not recorded")
    PREVIOUS = "previous", _("the previous version")
    NEW = "new", _("the new version (it had passed its checks)")
    NOTHING = "nothing", _("nothing to restore")


class Reason(models.TextChoices):
    MANUAL = "manual", _("manual")
    API = "api", _("API")
    CLI = "cli", _("command line")
    WEBHOOK = "webhook", _("webhook")
    SCHEDULE = "schedule", _("schedule")
    CHAIN = "chain", _("chain")
    PROMOTE = "promote", _("promotion")
    ROLLBACK = "rollback", _("rollback")
    WATCH = "watch", _("registry watch")
    MOVE = "move", _("move to another host")


# The words for the fixed vocabulary of failures (``apps.workloads.engine.CODES``, the one
# list). The stored message is built from the code only, so no raw engine text (which may echo a
# secret) ever reaches the ledger. A code without words here fails at import, and a test checks
# that no words are kept for a code the engine no longer has.
_MESSAGES = {
    "pull_failed": _("The image could not be pulled."),
    "auth_failed": _("The registry refused the credentials."),
    "build_failed": _("The image build failed."),
    "start_failed": _("The container did not start or did not stay up."),
    "health_failed": _("The new version failed its health check."),
    "proxy_failed": _("The proxy (Caddy) could not be updated; the previous version kept "
                      "serving."),
    "timeout": _("The deploy timed out."),
    "engine_down": _("The Docker engine is unreachable."),
    "host_down": _("The workload's host is down; nothing was changed there."),
    "internal": _("Internal error; see the server log."),
}
ERROR_MESSAGES = {code: _MESSAGES[code] for code in CODES}


class Deploy(models.Model):
    workload = models.ForeignKey(
        Workload, on_delete=models.CASCADE, related_name="deploys", verbose_name=_("workload")
    )
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    reason = models.CharField(_("reason"), max_length=16, choices=Reason.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("requested by"),
    )
    source_kind = models.CharField(_("source kind"), max_length=32)
    # The host the entry ran on (the workload's host when it was created): a workload moved
    # since then shows where each version ran.
    host = models.ForeignKey(Host, on_delete=models.SET_NULL, null=True, blank=True,
                             related_name="+", verbose_name=_("host"))
    pinned_ref = models.CharField(_("pinned reference"), max_length=200, blank=True)
    pinned = models.JSONField(_("pinned artifact"), default=dict, blank=True)
    spec_snapshot = models.JSONField(_("spec snapshot"), default=dict, blank=True)
    # JSON of [{"key", "value", "secret"}], encrypted as a whole.
    env_snapshot = EncryptedTextField(_("env snapshot"), blank=True)
    error_code = models.CharField(_("error code"), max_length=32, blank=True)
    # Typed facts about the failure (exit_code, port, holder_id, missing): see deploys.failures.
    error_detail = models.JSONField(_("error detail"), default=dict, blank=True)
    log = models.TextField(_("log"), blank=True)
    # Swap progress: the phase reached and {"old": [ids], "was_running": [ids], "new": [ids]}.
    phase = models.CharField(_("phase"), max_length=16, choices=Phase.choices, blank=True)
    swap = models.JSONField(_("swap progress"), default=dict, blank=True)
    restored = models.CharField(_("restored after interruption"), max_length=16,
                                choices=Restored.choices, blank=True)
    # Whether this entry's artifact can run again (present, pullable by digest, rebuildable).
    # Asking the engine is slow, so pages read this instead: it is stored when it can change
    # (image cleanup, the reconcile pass, a rollback's own check); see deploys.ledger.
    artifact_available = models.BooleanField(_("artifact available"), default=True)
    artifact_checked_at = models.DateTimeField(_("artifact checked"), null=True, blank=True)
    rollback_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("rollback of"),
    )
    trigger = models.ForeignKey(
        Trigger, on_delete=models.SET_NULL, null=True, blank=True, related_name="deploys",
        verbose_name=_("trigger"),
    )
    chained_from = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("chained from"),
    )
    promoted_from = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("promoted from"),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("deploy")
        verbose_name_plural = _("deploys")
        ordering = ["-id"]
        indexes = [models.Index(fields=["workload", "-id"], name="deploy_workload_newest")]

    def __str__(self):
        return f"#{self.pk} {self.workload.name} {self.get_status_display()}"

    @property
    def error_message(self):
        return ERROR_MESSAGES.get(self.error_code, "") if self.error_code else ""

    @property
    def error_explanation(self):
        """The failure's detail as a sentence ("" when there is none)."""
        from apps.deploys.failures import describe

        return describe(self.error_detail) if self.error_code else ""

    @property
    def duration(self):
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class Backup(models.Model):
    """A compressed snapshot of a workload's volumes, taken before a deploy."""

    class State(models.TextChoices):
        OK = "ok", _("ok")
        FAILED = "failed", _("failed")
        SKIPPED = "skipped", _("skipped")

    workload = models.ForeignKey(Workload, on_delete=models.CASCADE, related_name="backups",
                                 verbose_name=_("workload"))
    deploy = models.ForeignKey(Deploy, on_delete=models.SET_NULL, null=True, blank=True,
                               related_name="backups", verbose_name=_("deploy"))
    status = models.CharField(_("status"), max_length=16, choices=State.choices)
    reason = models.CharField(_("reason"), max_length=300, blank=True)
    path = models.CharField(_("path"), max_length=500, blank=True)
    size = models.BigIntegerField(_("size"), default=0)
    sha256 = models.CharField(_("SHA-256"), max_length=64, blank=True)
    # {archive member: volume identity (Volume.identity)}: a restore writes each member back
    # only into the volume it was taken from, whatever the volume list looks like by then.
    volumes = models.JSONField(_("volumes"), default=dict, blank=True, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("backup")
        verbose_name_plural = _("backups")
        ordering = ["-id"]

    def __str__(self):
        return f"#{self.pk} {self.workload.name} {self.status}"
