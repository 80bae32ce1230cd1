"""What operators are told about, as signals: the app that sees it sends, ``apps.notifications``
receives (core imports neither, and no sender imports the notifications app).

Every signal carries plain values only (ids, names, codes; never a model, never free text from
the engine) so a receiver can queue them as they are and nothing secret rides along:

- ``deploy_failed``: ``workload_id``, ``workload``, ``deploy_id``, ``code`` (an engine.CODES
  code), ``reason`` (the ledger reason). Sent by ``apps.deploys.dispatch`` when a row ends failed.
- ``auto_rolled_back``: ``workload_id``, ``workload``, ``deploy_id`` (the version that sickened),
  ``rollback_id``, ``status`` (of the rollback). Sent by ``apps.deploys.replays``.
- ``host_down``: ``host``, ``code``. For whoever detects an unreachable engine (not sent yet).

Senders use ``send_robust``: a receiver that fails never fails a deploy.
"""
from django.dispatch import Signal

deploy_failed = Signal()
auto_rolled_back = Signal()
host_down = Signal()
