"""Upgrading hashes the stored hook tokens: hook URLs handed out before keep working."""
import hashlib
import json
import uuid

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from apps.deploys.models import Trigger
from apps.deploys.triggers.webhook import sign
from tests.support.database import dump_all_rows

BEFORE = [("deploys", "0003_backups")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def migrate_to_latest():
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_existing_hook_urls_keep_working_after_the_upgrade_and_only_hashes_are_stored(client):
    raw = "legacy-" + uuid.uuid4().hex
    try:
        old_apps = migrate(BEFORE)
        OldTrigger = old_apps.get_model("deploys", "Trigger")
        OldTrigger.objects.create(name="signed", kind="webhook", token=raw, secret="old-secret",
                                  config={"branch": "", "tag": ""})
        OldTrigger.objects.create(name="unsigned", kind="webhook", token=raw + "-2", secret="",
                                  config={"branch": "", "tag": ""})
        migrate_to_latest()
        dump = dump_all_rows()
        assert raw not in dump
        assert Trigger.objects.get(name="signed").token_hash == hashlib.sha256(
            raw.encode()).hexdigest()
        body = json.dumps({"ref": "refs/heads/main"}).encode()
        signed = client.post(f"/api/hooks/{raw}", body, content_type="application/json",
                             HTTP_X_HUB_SIGNATURE_256=sign("old-secret", body))
        assert signed.status_code == 202
        # A secret-less webhook from before keeps its URL but refuses every call.
        unsigned = client.post(f"/api/hooks/{raw}-2", body, content_type="application/json",
                               HTTP_X_HUB_SIGNATURE_256=sign("", body))
        assert unsigned.status_code == 401
        assert Trigger.objects.get(name="unsigned").needs_secret
    finally:
        migrate_to_latest()


@pytest.mark.django_db(transaction=True)
def test_downgrading_turns_each_hash_into_the_new_token_without_losing_a_trigger():
    try:
        migrate_to_latest()
        hook = Trigger.objects.create(name="push", kind="webhook", secret="s")
        other = Trigger.objects.create(name="button", kind="manual")
        old_apps = migrate(BEFORE)
        OldTrigger = old_apps.get_model("deploys", "Trigger")
        tokens = dict(OldTrigger.objects.values_list("name", "token"))
        assert tokens == {"push": hook.token_hash, "button": other.token_hash}
        assert OldTrigger.objects.get(name="push").secret == "s"
        migrate_to_latest()
        assert Trigger.objects.get(name="push").token_hash == hashlib.sha256(
            hook.token_hash.encode()).hexdigest()
    finally:
        migrate_to_latest()
