"""Workloads and what hangs off them: env, volumes, the container index, registry logins, events."""
import hashlib
import re
import secrets as std_secrets

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from apps.core.crypto import EncryptedTextField, hash_token
from apps.workloads.kinds import kind_choices
from apps.workloads.sources.base import Mount

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
name_validator = RegexValidator(
    NAME_RE,
    _("Use 1-63 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit."),
)


def instance_slug(instance=None):
    """The install's instance label as it can appear in engine names (lowercase letters,
    digits and '-'); a short hash is added when the label had to be changed, so two labels
    that differ only in case or punctuation never share a slug."""
    instance = settings.TINYFORGE_INSTANCE if instance is None else instance
    slug = re.sub(r"[^a-z0-9]+", "-", instance.lower()).strip("-")[:30].strip("-") or "x"
    if slug != instance:
        slug += "-" + hashlib.sha256(instance.encode()).hexdigest()[:6]
    return slug


def default_engine_key(pk, instance=None):
    """tf-<instance>-<workload id>-<random>: the stem of every engine name a workload owns.

    The random part keeps a fresh database (whose ids start again at 1) from adopting the
    volumes a former install's workload of the same id left on the engine."""
    return f"tf-{instance_slug(instance)}-{pk}-{std_secrets.token_hex(2)}"


class DesiredState(models.TextChoices):
    """What the operator wants: a stopped workload stays stopped (reconcile and the health
    watch leave it alone) until it is started again or deployed (a deploy starts it)."""

    RUNNING = "running", _("running")
    STOPPED = "stopped", _("stopped")


# Workload.run_state codes and the words the admin and the commands show for them.
RUN_STATE_LABELS = {
    "absent": pgettext_lazy("workload state", "not deployed"),
    "running": pgettext_lazy("workload state", "running"),
    "stopped": pgettext_lazy("workload state", "stopped"),
    "failing": pgettext_lazy("workload state", "failing"),
    "host_down": pgettext_lazy("workload state", "host down"),
}


class HostState(models.TextChoices):
    UNKNOWN = "unknown", pgettext_lazy("host state", "not checked yet")
    UP = "up", pgettext_lazy("host state", "up")
    DOWN = "down", pgettext_lazy("host state", "down")


class Host(models.Model):
    """A Docker engine TinyForge deploys to. The local engine is the host the first migration
    creates (``is_local``); others are reached over TCP with TLS client certificates or SSH.

    The TLS client key and the SSH private key are encrypted at rest and write-only (no page or
    endpoint shows them again). ``state`` is kept by the host checks (apps.workloads.hosts):
    down only after two failed checks in a row, up again at the first answer.
    """

    name = models.CharField(_("name"), max_length=63, unique=True, validators=[name_validator])
    engine_url = models.CharField(
        _("engine address"), max_length=300, blank=True,
        help_text=_("Empty for the local engine; tcp://HOST:2376 (with TLS certificates) or "
                    "ssh://user@host[:port]."))
    tls_ca = models.TextField(_("TLS CA certificate"), blank=True)
    tls_cert = models.TextField(_("TLS client certificate"), blank=True)
    tls_key = EncryptedTextField(_("TLS client key"), blank=True)
    ssh_key = EncryptedTextField(_("SSH private key"), blank=True)
    proxy_admin = models.CharField(
        _("proxy admin endpoint"), max_length=300, blank=True,
        help_text=_("The admin API of this host's Caddy; empty: the default one."))
    max_deploys = models.PositiveSmallIntegerField(
        _("deploys at once"), default=0,
        help_text=_("How many deploys may run on this host at the same time (a small host "
                    "under a fan-out); the rest wait their turn. 0: no limit but the task "
                    "cluster's workers."))
    is_local = models.BooleanField(_("local engine"), default=False, editable=False)
    state = models.CharField(_("state"), max_length=16, choices=HostState.choices,
                             default=HostState.UNKNOWN, editable=False)
    failed_checks = models.PositiveIntegerField(default=0, editable=False)
    last_checked_at = models.DateTimeField(_("last checked"), null=True, blank=True,
                                           editable=False)
    last_error = models.CharField(_("last error"), max_length=300, blank=True, editable=False)
    engine_info = models.JSONField(_("engine"), default=dict, blank=True, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("host")
        verbose_name_plural = _("hosts")
        ordering = ["-is_local", "name"]

    def __str__(self):
        return self.name

    @property
    def is_down(self):
        return self.state == HostState.DOWN

    def engine_target(self):
        """How the engine package reaches this host (apps.workloads.engine.targets)."""
        from apps.workloads.engine.targets import LOCAL, EngineTarget

        if self.is_local and not self.engine_url:
            return LOCAL
        return EngineTarget(
            name=self.name, url=self.engine_url, tls_ca=self.tls_ca, tls_cert=self.tls_cert,
            tls_key=self.tls_key, ssh_key=self.ssh_key,
            timeout=settings.TINYFORGE_HOST_TIMEOUT)


class Workload(models.Model):
    name = models.CharField(_("name"), max_length=63, unique=True, validators=[name_validator])
    kind = models.CharField(_("kind"), max_length=32, choices=kind_choices)
    ref_id = models.CharField(
        _("reference id"),
        max_length=100,
        null=True,
        blank=True,
        help_text=_("Groups sibling workloads of one kind; defaults to the workload's own id."),
    )
    spec = models.JSONField(_("spec"), default=dict, blank=True)
    title = models.CharField(_("title"), max_length=200, blank=True)
    description = models.TextField(_("description"), blank=True)
    auto_backup = models.BooleanField(
        _("back up volumes before each deploy"), null=True, blank=True,
        help_text=_("Empty: follow the TINYFORGE_AUTO_BACKUP setting."),
    )
    chain = models.ManyToManyField(
        "self", symmetrical=False, related_name="chained_from", blank=True,
        verbose_name=_("then deploy"),
        help_text=_("Workloads to deploy after this one deploys successfully."),
    )
    # The deploy that holds the per-workload lock (see apps.deploys.dispatch); null when free.
    lock_deploy_id = models.BigIntegerField(null=True, blank=True, editable=False)
    lock_acquired_at = models.DateTimeField(null=True, blank=True, editable=False)
    lock_owner = models.CharField(max_length=200, blank=True, editable=False)  # "host:pid"
    desired_state = models.CharField(_("desired state"), max_length=16,
                                     choices=DesiredState.choices,
                                     default=DesiredState.RUNNING, editable=False)
    # The stem of the engine names (compose project, container names, volumes, image tags),
    # fixed when the workload is created so that renaming it changes nothing on the engine.
    engine_key = models.CharField(_("engine key"), max_length=100, null=True, unique=True,
                                  editable=False)
    # Where the workload runs; null only for rows older than hosts (read as the local host).
    host = models.ForeignKey(Host, on_delete=models.PROTECT, null=True, blank=True,
                             related_name="workloads", verbose_name=_("host"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("workload")
        verbose_name_plural = _("workloads")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "ref_id"], name="workload_unique_kind_ref"),
        ]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        super().save(*args, **kwargs)
        if not self.ref_id:
            self.ref_id = str(self.pk)
            type(self).objects.filter(pk=self.pk).update(ref_id=self.ref_id)
        if not self.engine_key:
            key = default_engine_key(self.pk)
            while type(self).objects.filter(engine_key=key).exclude(pk=self.pk).exists():
                key = default_engine_key(self.pk)  # a key adopted at the upgrade, by chance
            self.engine_key = key
            type(self).objects.filter(pk=self.pk).update(engine_key=key)

    @property
    def state(self):
        """The coarse state shown in lists: running, stopped or not deployed."""
        return self.state_of([c.state for c in self.containers.all()])

    @staticmethod
    def state_of(states):
        """``state`` from the states of the workload's containers (for callers that fetched
        them as plain rows)."""
        if not states:
            return "absent"
        return "running" if all(s == "running" for s in states) else "degraded"

    @property
    def run_state(self):
        """The state the admin's status header shows: running, stopped, failing, absent.

        Read from the container index (prefetched where lists show it), never the engine."""
        if self.host_id is not None and self.host.is_down:
            return "host_down"
        states = [c.state for c in self.containers.all()]
        if not states:
            return "absent"
        if self.desired_state == DesiredState.STOPPED:
            return "stopped"
        return "running" if all(s == "running" for s in states) else "failing"

    def env_dict(self):
        return {var.key: var.value for var in self.env_vars.all()}


class EnvVar(models.Model):
    workload = models.ForeignKey(
        Workload, on_delete=models.CASCADE, related_name="env_vars", verbose_name=_("workload")
    )
    key = models.CharField(
        _("key"),
        max_length=200,
        validators=[RegexValidator(r"^[A-Za-z_][A-Za-z0-9_]*$", _("Not a valid variable name."))],
    )
    # Every value is encrypted at rest; ``secret`` decides whether it is ever shown again.
    value = EncryptedTextField(_("value"), blank=True)
    secret = models.BooleanField(_("secret"), default=False)

    class Meta:
        verbose_name = _("environment variable")
        verbose_name_plural = _("environment variables")
        constraints = [
            models.UniqueConstraint(fields=["workload", "key"], name="envvar_unique_key"),
        ]

    def __str__(self):
        return self.key


class Volume(models.Model):
    workload = models.ForeignKey(
        Workload, on_delete=models.CASCADE, related_name="volumes", verbose_name=_("workload")
    )
    name = models.CharField(
        _("volume name"), max_length=200, blank=True, help_text=_("A named Docker volume.")
    )
    host_path = models.CharField(
        _("host path"), max_length=500, blank=True, help_text=_("A bind mount from the host.")
    )
    mount_path = models.CharField(_("mount path"), max_length=500)
    read_only = models.BooleanField(_("read only"), default=False)
    # The engine's name for a named volume, fixed at creation (see Workload.engine_key): a
    # renamed workload keeps its data.
    engine_name = models.CharField(_("engine volume"), max_length=255, blank=True,
                                   editable=False)

    class Meta:
        verbose_name = _("volume")
        verbose_name_plural = _("volumes")

    def __str__(self):
        return f"{self.name or self.host_path}:{self.mount_path}"

    def save(self, *args, **kwargs):
        if self.name and not self.engine_name:
            self.engine_name = self._default_engine_name()
        super().save(*args, **kwargs)

    def _default_engine_name(self):
        return f"{self.workload.engine_key}-{self.name}"

    @property
    def source(self):
        return self.host_path or self.docker_name

    @property
    def docker_name(self):
        """Named volumes are namespaced by workload so two workloads never share one by accident."""
        if not self.name:
            return ""
        return self.engine_name or self._default_engine_name()

    @property
    def identity(self):
        """What a backup archive is keyed by: the engine volume, or the host directory."""
        return f"volume:{self.docker_name}" if self.name else f"host:{self.host_path}"

    def as_mount(self):
        """This volume as a source mounts it (sources never read the models themselves)."""
        return Mount(source=self.source, target=self.mount_path, read_only=self.read_only,
                     volume=bool(self.name))


class Container(models.Model):
    """The index of a workload's containers, kept true by deploys and by reconcile."""

    workload = models.ForeignKey(
        Workload, on_delete=models.CASCADE, related_name="containers", verbose_name=_("workload")
    )
    docker_id = models.CharField(_("container id"), max_length=80, unique=True)
    name = models.CharField(_("name"), max_length=200)
    service = models.CharField(_("service"), max_length=100, blank=True)
    image = models.CharField(_("image"), max_length=500)
    digest = models.CharField(_("digest"), max_length=200, blank=True)
    deploy_id = models.BigIntegerField(_("deploy"), null=True, blank=True)
    state = models.CharField(_("state"), max_length=32, default="created")
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("container")
        verbose_name_plural = _("containers")

    def __str__(self):
        return self.name


class RegistryCredential(models.Model):
    host = models.CharField(
        _("registry host"), max_length=255, unique=True, help_text=_("For example 127.0.0.1:5000")
    )
    username = models.CharField(_("username"), max_length=200)
    password = EncryptedTextField(_("password"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("registry credential")
        verbose_name_plural = _("registry credentials")
        ordering = ["host"]

    def __str__(self):
        return self.host

    @classmethod
    def auth_by_host(cls, *hosts):
        """{host: {"username", "password"}} for the engine (every stored host, or only
        ``hosts``): resolved by the caller and handed to the sources as ``registry_auth``."""
        rows = cls.objects.filter(host__in=hosts) if hosts else cls.objects.all()
        return {cred.host: {"username": cred.username, "password": cred.password}
                for cred in rows}


class EventLog(models.Model):
    workload = models.ForeignKey(
        Workload, on_delete=models.CASCADE, related_name="events", verbose_name=_("workload")
    )
    kind = models.CharField(_("kind"), max_length=32)
    message = models.TextField(_("message"))
    # Where the workload ran when this happened (it may have moved since; a removed host
    # leaves its old events without one).
    host = models.ForeignKey("Host", on_delete=models.SET_NULL, null=True, blank=True,
                             related_name="+", verbose_name=_("host"), editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("events")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.kind}: {self.message[:60]}"


class ApiToken(models.Model):
    """A bearer token; only its SHA-256 is stored, the token itself is shown once."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="api_tokens",
        verbose_name=_("user"),
    )
    name = models.CharField(_("name"), max_length=100, blank=True)
    prefix = models.CharField(_("prefix"), max_length=12, editable=False)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self):
        return f"{self.prefix}… ({self.user})"

    @classmethod
    def issue(cls, user, name=""):
        """Create a token for ``user``; returns (row, raw token). The raw token is not stored."""
        import secrets

        raw = "tf_" + secrets.token_urlsafe(32)
        row = cls.objects.create(user=user, name=name, prefix=raw[:10], token_hash=hash_token(raw))
        return row, raw
