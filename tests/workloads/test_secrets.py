"""Secrets at rest (encrypted columns) and in text (masking)."""
import pytest
from django.db import connection

from apps.core.crypto import MASK, decrypt, encrypt, mask
from apps.deploys.dispatch import _env_snapshot
from apps.workloads.events import record_event
from apps.workloads.models import EnvVar, EventLog, RegistryCredential
from apps.workloads.secrets import known_secret_values

SECRET = "canary-secret-7f3a9c"


def raw_column(model, column, pk):
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT "{column}" FROM "{model._meta.db_table}" WHERE id = %s', [pk]
        )
        return cursor.fetchone()[0]


# --- encryption ---------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "plain", ["p@ss w0rd!", SECRET, "ünïcödé ключ 🔑", "a" * 5000, "enc-looking"]
)
def test_encrypt_then_decrypt_gives_the_value_back(plain):
    stored = encrypt(plain)
    assert stored != plain and plain not in stored
    assert decrypt(stored) == plain


def test_encrypting_twice_gives_different_ciphertexts_of_the_same_value():
    first, second = encrypt(SECRET), encrypt(SECRET)
    assert first != second
    assert decrypt(first) == decrypt(second) == SECRET


@pytest.mark.parametrize("empty", ["", None])
def test_empty_values_stay_empty(empty):
    assert encrypt(empty) == empty and decrypt(empty) == empty


def test_a_plain_legacy_value_is_returned_unchanged():
    assert decrypt("plain-old-value") == "plain-old-value"


def test_a_value_encrypted_under_another_key_decrypts_to_nothing(settings):
    stored = encrypt(SECRET)
    settings.SECRET_KEY = "a-different-secret-key-for-this-test"
    assert decrypt(stored) == ""


# --- nothing in plain text at rest ---------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize("secret_flag", [True, False])
def test_env_values_are_not_stored_in_plain_text(make_workload, secret_flag):
    workload = make_workload(env=[{"key": "TOKEN", "value": SECRET, "secret": secret_flag}])
    var = EnvVar.objects.get(workload=workload, key="TOKEN")
    raw = raw_column(EnvVar, "value", var.pk)
    assert SECRET not in raw and raw.startswith("enc:")
    assert EnvVar.objects.get(pk=var.pk).value == SECRET


@pytest.mark.django_db
def test_registry_passwords_are_not_stored_in_plain_text():
    cred = RegistryCredential.objects.create(host="127.0.0.1:5000", username="u", password=SECRET)
    raw = raw_column(RegistryCredential, "password", cred.pk)
    assert SECRET not in raw and raw.startswith("enc:")
    assert RegistryCredential.objects.get(pk=cred.pk).password == SECRET


@pytest.mark.django_db
def test_an_updated_value_is_stored_encrypted_too():
    cred = RegistryCredential.objects.create(host="127.0.0.1:5000", username="u", password="first")
    RegistryCredential.objects.filter(pk=cred.pk).update(password=SECRET)
    raw = raw_column(RegistryCredential, "password", cred.pk)
    assert SECRET not in raw
    assert RegistryCredential.objects.get(pk=cred.pk).password == SECRET


@pytest.mark.django_db
def test_the_deploy_env_snapshot_is_not_stored_in_plain_text(make_workload):
    from apps.deploys.models import Deploy

    workload = make_workload(env=[{"key": "TOKEN", "value": SECRET, "secret": True}])
    deploy = Deploy.objects.create(workload=workload, reason="manual", source_kind="image",
                                   env_snapshot=_env_snapshot(workload))
    raw = raw_column(Deploy, "env_snapshot", deploy.pk)
    assert SECRET not in raw
    assert SECRET in Deploy.objects.get(pk=deploy.pk).env_snapshot


# --- masking ------------------------------------------------------------------------------------

def test_mask_replaces_every_known_value():
    text = f"user=alice password=hunter2x token={SECRET} again {SECRET}"
    masked = mask(text, ["hunter2x", SECRET])
    assert "hunter2x" not in masked and SECRET not in masked
    assert masked.count(MASK) == 3 and masked.startswith("user=alice password=")


def test_mask_hides_the_longer_of_two_overlapping_values_whole():
    masked = mask("key=abcdef123456", ["abcdef", "abcdef123456"])
    assert masked == f"key={MASK}"


def test_mask_leaves_text_without_secrets_alone():
    assert mask("nothing to hide", [SECRET]) == "nothing to hide"
    assert mask("", [SECRET]) == "" and mask(None, [SECRET]) is None


def test_mask_ignores_empty_and_tiny_values_that_would_shred_the_text():
    assert mask("a b c", ["", None, "a"]) == "a b c"


@pytest.mark.django_db
def test_known_secret_values_cover_registry_passwords_and_secret_env_only(make_workload):
    make_workload(env=[
        {"key": "TOKEN", "value": "env-secret-1", "secret": True},
        {"key": "MODE", "value": "not-a-secret", "secret": False},
    ])
    RegistryCredential.objects.create(host="127.0.0.1:5000", username="u", password="reg-pass-1")
    values = known_secret_values()
    assert "env-secret-1" in values and "reg-pass-1" in values
    assert "not-a-secret" not in values
    text = mask("env-secret-1 and reg-pass-1 and not-a-secret", values)
    assert "env-secret-1" not in text and "reg-pass-1" not in text
    assert "not-a-secret" in text


@pytest.mark.django_db
def test_the_event_log_masks_a_secret_env_value(make_workload):
    workload = make_workload(env=[{"key": "TOKEN", "value": SECRET, "secret": True}])
    event = record_event(workload, "note", f"the container printed TOKEN={SECRET}")
    stored = EventLog.objects.get(pk=event.pk).message
    assert SECRET not in stored
    assert stored == f"the container printed TOKEN={MASK}"


@pytest.mark.django_db
def test_the_event_log_masks_a_registry_password(make_workload):
    workload = make_workload()
    RegistryCredential.objects.create(host="127.0.0.1:5000", username="u", password=SECRET)
    record_event(workload, "note", f"login with {SECRET} refused")
    assert all(SECRET not in e.message for e in EventLog.objects.filter(workload=workload))
