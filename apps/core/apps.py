from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.utils.translation import gettext_lazy as _


def short_statements_on_postgresql(sender, connection, **kwargs):
    """Turn PostgreSQL's JIT compilation off for TinyForge's connections.

    Every statement TinyForge runs is short (a window of one workload, a minute of rollups, a
    prune batch), yet the planner's estimates on freshly written metric tables often pass
    ``jit_above_cost``, and compiling then costs more than the statement: with JIT on, the
    maintenance bench's catch-up prune took 1.9 s instead of 0.9 s and a batch up to 86 ms
    instead of 33 ms (bench/RESULTS.md). A session setting, so it works behind any pooler.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET jit = off")


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"
    verbose_name = _("Core")

    def ready(self):
        connection_created.connect(short_statements_on_postgresql,
                                   dispatch_uid="tinyforge-postgresql-jit-off")
