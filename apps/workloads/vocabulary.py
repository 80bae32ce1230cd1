"""Words for codes that are stored and served as codes (the API and the event log keep them
stable) but shown to people in their language: event kinds and container states.

A code missing here is shown as it is: the engine may grow states, and other apps record event
kinds of their own (they may add them here, in the same way).
"""
from django.utils.translation import pgettext_lazy

EVENT_KINDS = {
    "created": pgettext_lazy("event kind", "created"),
    "updated": pgettext_lazy("event kind", "updated"),
    "queued": pgettext_lazy("event kind", "queued"),
    "deployed": pgettext_lazy("event kind", "deployed"),
    "failed": pgettext_lazy("event kind", "failed"),
    "interrupted": pgettext_lazy("event kind", "interrupted"),
    "recovered": pgettext_lazy("event kind", "recovered"),
    "restored": pgettext_lazy("event kind", "restored"),
    "unhealthy": pgettext_lazy("event kind", "unhealthy"),
    "drift": pgettext_lazy("event kind", "drift"),
    "ledger_corrected": pgettext_lazy("event kind", "ledger corrected"),
    "started": pgettext_lazy("event kind", "started"),
    "stopped": pgettext_lazy("event kind", "stopped"),
    "restarted": pgettext_lazy("event kind", "restarted"),
    "host_down": pgettext_lazy("event kind", "host down"),
    "host_up": pgettext_lazy("event kind", "host up"),
    "moved": pgettext_lazy("event kind", "moved"),
}

# Docker's container states (docker inspect State.Status).
CONTAINER_STATES = {
    "created": pgettext_lazy("container state", "created"),
    "running": pgettext_lazy("container state", "running"),
    "paused": pgettext_lazy("container state", "paused"),
    "restarting": pgettext_lazy("container state", "restarting"),
    "removing": pgettext_lazy("container state", "removing"),
    "exited": pgettext_lazy("container state", "exited"),
    "dead": pgettext_lazy("container state", "dead"),
}


def event_kind_label(kind):
    return EVENT_KINDS.get(kind, kind)


def container_state_label(state):
    return CONTAINER_STATES.get(state, state)
