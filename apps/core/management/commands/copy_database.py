"""Copy this install's database into another one (SQLite -> PostgreSQL, or back).

    manage.py copy_database --to postgres://USER:PASSWORD@HOST:5432/NAME

The source is the database the settings point at (``DATABASE_URL`` or the default SQLite file);
stop ``serve`` first so nothing writes meanwhile. The target gets the same migrations, then
every table is copied row for row in one transaction on the target: ids, timestamps, the deploy
ledger, metrics, users, tokens, schedules. Encrypted values (secret env vars, registry
passwords) are copied as stored, never decrypted, so the target needs the same
``TINYFORGE_SECRET_KEY``. Afterwards the id sequences are moved past the copied rows and the row
counts are compared table by table.
"""
import os
import subprocess
import sys
from contextlib import contextmanager

import dj_database_url
from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.core.management.color import no_style
from django.db import DEFAULT_DB_ALIAS, connections, models, transaction
from django.db.migrations.executor import MigrationExecutor
from django.db.models.functions import Cast
from django.utils.translation import gettext as _

from apps.core.crypto import EncryptedTextField

TARGET = "copy_target"
BATCH = 2000


def copied_models():
    """Every table Django manages, including many-to-many tables, in a stable order."""
    found = [
        model for model in apps.get_models(include_auto_created=True)
        if model._meta.managed and not model._meta.proxy
    ]
    return sorted(found, key=lambda model: model._meta.db_table)


@contextmanager
def stored_timestamps_kept(model_list):
    """``auto_now``/``auto_now_add`` would stamp every copied row with the copy's time."""
    changed = []
    for model in model_list:
        for field in model._meta.concrete_fields:
            if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
                changed.append((field, field.auto_now, field.auto_now_add))
                field.auto_now = field.auto_now_add = False
    try:
        yield
    finally:
        for field, auto_now, auto_now_add in changed:
            field.auto_now, field.auto_now_add = auto_now, auto_now_add


def _columns(model):
    """(attnames, expressions to read): encrypted columns are read as the stored text."""
    fields = model._meta.concrete_fields
    names = [field.attname for field in fields]
    reads = [
        Cast(field.attname, output_field=models.TextField())
        if isinstance(field, EncryptedTextField) else field.attname
        for field in fields
    ]
    return names, reads


def unapplied(alias):
    executor = MigrationExecutor(connections[alias])
    return executor.migration_plan(executor.loader.graph.leaf_nodes())


class Command(BaseCommand):
    help = _("Copy every row of this install's database into another database (DATABASE_URL "
             "form), e.g. from SQLite to PostgreSQL.")

    def add_arguments(self, parser):
        parser.add_argument("--to", required=True, dest="target_url",
                            help=_("the target database, e.g. postgres://user:pw@host:5432/name"))

    def handle(self, *args, target_url, **options):
        if unapplied(DEFAULT_DB_ALIAS):
            raise CommandError(_("The source database has unapplied migrations: run "
                                 "`manage.py migrate` first."))
        connections.settings[TARGET] = connections.configure_settings({
            DEFAULT_DB_ALIAS: connections.settings[DEFAULT_DB_ALIAS],
            TARGET: dj_database_url.parse(target_url),
        })[TARGET]
        self.target_url = target_url
        try:
            self._copy()
        finally:
            connections[TARGET].close()

    def _copy(self):
        source, target = connections[DEFAULT_DB_ALIAS], connections[TARGET]
        if (source.vendor, source.settings_dict["NAME"]) == (target.vendor,
                                                              target.settings_dict["NAME"]):
            raise CommandError(_("The target is the source database."))
        self._migrate_target()
        model_list = copied_models()
        user_model = apps.get_model("auth", "User")
        workload_model = apps.get_model("workloads", "Workload")
        for model in (user_model, workload_model):
            if model._base_manager.using(TARGET).exists():
                raise CommandError(_("The target database is not empty (%(table)s has rows): "
                                     "give an empty database.")
                                   % {"table": model._meta.db_table})
        tables = [model._meta.db_table for model in model_list]
        counts = {}
        with stored_timestamps_kept(model_list), transaction.atomic(using=TARGET):
            # What `migrate` just created (content types, permissions, fixed schedules) is
            # replaced by the source's own rows, ids included.
            with target.cursor() as cursor:
                for sql in target.ops.sql_flush(no_style(), tables, allow_cascade=True):
                    cursor.execute(sql)
            if target.vendor == "postgresql":
                # Django's foreign keys are deferrable: checked once, at commit, so the
                # tables can be filled in any order.
                with target.cursor() as cursor:
                    cursor.execute("SET CONSTRAINTS ALL DEFERRED")
            for model in model_list:
                counts[model._meta.db_table] = self._copy_model(model)
            with target.cursor() as cursor:
                for sql in target.ops.sequence_reset_sql(no_style(), model_list):
                    cursor.execute(sql)
        mismatched = [
            table for table, model in zip(tables, model_list, strict=True)
            if model._base_manager.using(TARGET).count() != counts[table]
        ]
        if mismatched:
            raise CommandError(_("Row counts differ after the copy: %(tables)s")
                               % {"tables": ", ".join(mismatched)})
        for table in tables:
            if counts[table]:
                self.stdout.write(f"{table}: {counts[table]}")
        self.stdout.write(_("Copied %(rows)d rows in %(tables)d tables.")
                          % {"rows": sum(counts.values()), "tables": len(tables)})

    def _migrate_target(self):
        """``migrate`` in a process of its own whose only database is the target: data
        migrations that use the default manager would otherwise read and write the source."""
        env = {**os.environ, "DATABASE_URL": self.target_url}
        done = subprocess.run(
            [sys.executable, str(settings.BASE_DIR / "manage.py"), "migrate", "--noinput",
             "-v", "0"], env=env, capture_output=True, text=True,
        )
        if done.returncode != 0:
            raise CommandError(_("Migrating the target database failed:\n%(output)s")
                               % {"output": done.stderr[-2000:]})

    def _copy_model(self, model):
        names, reads = _columns(model)
        rows = model._base_manager.using(DEFAULT_DB_ALIAS).order_by().values_list(*reads)
        batch, copied = [], 0
        for row in rows.iterator(chunk_size=BATCH):
            batch.append(model(**dict(zip(names, row, strict=True))))
            if len(batch) >= BATCH:
                copied += self._write(model, batch)
                batch = []
        if batch:
            copied += self._write(model, batch)
        return copied

    @staticmethod
    def _write(model, batch):
        model._base_manager.using(TARGET).bulk_create(batch, batch_size=BATCH)
        return len(batch)
