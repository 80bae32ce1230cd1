"""Registry watch: poll a tag's digest and deploy when it moves (what Watchtower users want)."""
import logging

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.deploys.triggers.base import TriggerConfigError, TriggerKind
from apps.workloads import engine
from apps.workloads.engine import EngineError
from apps.workloads.models import RegistryCredential
from apps.workloads.references import split_reference

log = logging.getLogger("tinyforge.triggers")


class RegistryWatchTrigger(TriggerKind):
    kind = "registry_watch"
    label = gettext_lazy("Registry watch")
    reason = "watch"
    config_sample = {"image": "127.0.0.1:5000/team/web:live", "interval": 1}

    def validate(self, config):
        config = dict(config or {})
        errors = {f"config.{key}": _("Unknown field.") for key in config
                  if key not in ("image", "interval")}
        try:
            split_reference(config.get("image") or "")
        except ValueError:
            errors["config.image"] = _("Not a valid image reference.")
        interval = config.get("interval", 1)
        if not isinstance(interval, int) or not 1 <= interval <= 1440:
            errors["config.interval"] = _("Give the interval in whole minutes, 1 to 1440.")
        if errors:
            raise TriggerConfigError(errors)
        return {"image": config["image"], "interval": interval}

    def schedule(self, trigger):
        return {"schedule_type": "I", "minutes": trigger.config.get("interval", 1)}

    def should_fire(self, trigger):
        """True when the tag's digest differs from the one seen last (the first poll only
        remembers it)."""
        ref = split_reference(trigger.config["image"])
        try:
            auth = RegistryCredential.auth_by_host(ref.registry).get(ref.registry)
            digest = engine.registry_digest(trigger.config["image"], auth)
        except EngineError as exc:
            log.warning("registry watch %s: poll failed (%s)", trigger.name, exc.code)
            return False
        seen = trigger.state.get("digest")
        trigger.state["digest"] = digest
        return bool(seen) and seen != digest
