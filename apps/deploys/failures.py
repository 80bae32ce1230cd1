"""Safe, structured detail about why a deploy failed, and the sentence people read.

The ledger keeps a fixed error code (``ERROR_MESSAGES``) plus ``Deploy.error_detail``: only
typed facts that cannot carry a secret (an exit code, a port number, the id of the workload
holding that port, an image reference TinyForge itself asked for), never raw engine text. The
sentence is built from translatable templates at display time, so a renamed holder shows its
current name.
"""
import re

from django.utils.translation import gettext as _

# Image references: registry host[:port]/path[:tag|@sha256:hex]; nothing else is kept.
_REFERENCE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}$")
_INT32 = 2**31


def safe_detail(detail):
    """Only the known keys, each with the type and range it must have; anything else is dropped."""
    detail = detail if isinstance(detail, dict) else {}
    clean = {}
    exit_code = detail.get("exit_code")
    if type(exit_code) is int and -_INT32 <= exit_code < _INT32:
        clean["exit_code"] = exit_code
    port = detail.get("port")
    if type(port) is int and 1 <= port <= 65535:
        clean["port"] = port
        holder = detail.get("holder_id")
        if type(holder) is int and 0 < holder < 2**63:
            clean["holder_id"] = holder
    missing = detail.get("missing")
    if isinstance(missing, str) and _REFERENCE_RE.match(missing):
        clean["missing"] = missing
    return clean


def describe(detail):
    """One human sentence for a stored ``error_detail`` ("" when there is nothing to add)."""
    from apps.workloads.models import Workload

    detail = safe_detail(detail)
    parts = []
    if "exit_code" in detail:
        parts.append(_("The container exited with code %(code)s.") % {
            "code": detail["exit_code"]})
    if "port" in detail:
        holder = None
        if "holder_id" in detail:
            holder = Workload.objects.filter(pk=detail["holder_id"]).values_list(
                "name", flat=True).first()
        if holder is not None:
            parts.append(_("Port %(port)s is already in use by workload '%(name)s' (#%(id)s).")
                         % {"port": detail["port"], "name": holder, "id": detail["holder_id"]})
        else:
            parts.append(_("Port %(port)s is already in use by another process.")
                         % {"port": detail["port"]})
    if "missing" in detail:
        parts.append(_("The image %(ref)s does not exist.") % {"ref": detail["missing"]})
    return " ".join(parts)
