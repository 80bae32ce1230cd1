"""Why a webhook delivery deployed, was ignored or was refused: a fixed vocabulary, so the
delivery log and the hook's answer say it in words without storing anything the sender wrote."""
from django.utils.translation import gettext_lazy as _

REASONS = {
    "matched": _("Deploys started for the matching workloads."),
    "ping": _("A ping: the hook works; nothing to deploy."),
    "deleted": _("A branch, tag or manifest was deleted: deletions deploy nothing."),
    "event": _("This event does not deploy (only pushes of branches, tags and manifests do)."),
    "pull": _("Registry pulls never deploy."),
    "branch": _("The push is not to the trigger's branch or tag filter."),
    "image": _("No bound workload runs an image of this repository and tag."),
    "running": _("The matching workloads already run this digest."),
    "queued": _("A deploy of the matching workloads is queued already; it pulls the image as "
                "it is when it starts."),
    "unbound": _("No workload is bound to this trigger."),
    "replayed": _("This delivery was received already; nothing was dispatched again."),
    "signature": _("Invalid or missing signature or token."),
    "no_secret": _("This webhook has no secret and refuses every call."),
    "dialect": _("Unknown sender: no GitHub, Gitea/Forgejo, GitLab or registry headers."),
    "malformed": _("The body could not be read."),
}
