"""ImageSource.validate and the source registry (pure logic: no engine, no database)."""
import pytest
from django.core.exceptions import ValidationError

from apps.workloads.models import Workload
from apps.workloads.sources import (
    SOURCES,
    Source,
    SpecError,
    UnknownSource,
    get_source,
    source_choices,
)
from apps.workloads.sources.image import ImageSource

IMAGE = "127.0.0.1:5000/team/web:live"


def errors_for(spec):
    with pytest.raises(SpecError) as caught:
        ImageSource().validate(spec)
    return caught.value.errors


def test_it_validates_the_minimal_spec_and_fills_the_defaults():
    cleaned = ImageSource().validate({"image": IMAGE})
    defaults = {
        "image": IMAGE, "local": False, "command": None, "ports": [],
        "restart": "unless-stopped", "limits": {},
    }
    assert {key: cleaned.get(key, "<missing>") for key in defaults} == defaults


def test_it_keeps_every_valid_option():
    spec = {
        "image": IMAGE, "local": True, "command": ["sh", "-c", "echo hi"],
        "ports": ["127.0.0.1:8080:80", "9000:9000/udp", "80"], "restart": "on-failure",
        "limits": {"memory": "256m", "cpus": 0.5},
    }
    cleaned = ImageSource().validate(spec)
    assert {key: cleaned.get(key) for key in spec} == spec


def test_it_splits_a_command_string_like_a_shell():
    cleaned = ImageSource().validate({"image": IMAGE, "command": "sh -c 'echo hi there'"})
    assert cleaned["command"] == ["sh", "-c", "echo hi there"]


def test_it_does_not_change_the_spec_it_was_given():
    spec = {"image": IMAGE}
    ImageSource().validate(spec)
    assert spec == {"image": IMAGE}


def test_it_accepts_its_own_schema_sample():
    source = ImageSource()
    assert source.validate(source.schema_sample)["image"] == source.schema_sample["image"]


@pytest.mark.parametrize("spec,field", [
    ({}, "image"),
    ({"image": ""}, "image"),
    ({"image": "   "}, "image"),
    ({"image": 42}, "image"),
    ({"image": "Not A Ref"}, "image"),
    ({"image": IMAGE, "extra": 1}, "extra"),
    ({"image": IMAGE, "local": "yes"}, "local"),
    ({"image": IMAGE, "command": "sh -c 'unbalanced"}, "command"),
    ({"image": IMAGE, "command": ["sh", 1]}, "command"),
    ({"image": IMAGE, "command": 7}, "command"),
    ({"image": IMAGE, "ports": "8080:80"}, "ports"),
    ({"image": IMAGE, "ports": ["99999:1"]}, "ports[0]"),
    ({"image": IMAGE, "ports": ["8080:80", "0:80"]}, "ports[1]"),
    ({"image": IMAGE, "ports": ["8080:70000"]}, "ports[0]"),
    ({"image": IMAGE, "ports": ["web"]}, "ports[0]"),
    ({"image": IMAGE, "ports": ["8080:80/sctp"]}, "ports[0]"),
    ({"image": IMAGE, "ports": [8080]}, "ports[0]"),
    ({"image": IMAGE, "restart": "sometimes"}, "restart"),
    ({"image": IMAGE, "limits": "256m"}, "limits"),
    ({"image": IMAGE, "limits": {"disk": "1g"}}, "limits.disk"),
    ({"image": IMAGE, "limits": {"memory": "lots"}}, "limits.memory"),
    ({"image": IMAGE, "limits": {"memory": -5}}, "limits.memory"),
    ({"image": IMAGE, "limits": {"cpus": 0}}, "limits.cpus"),
    ({"image": IMAGE, "limits": {"cpus": "half"}}, "limits.cpus"),
    ({"image": IMAGE, "limits": {"cpus": 1000}}, "limits.cpus"),
])
def test_it_rejects_each_bad_field_by_name(spec, field):
    errors = errors_for(spec)
    assert field in errors, errors
    assert all(str(message) for message in errors.values())


def test_it_reports_every_bad_field_at_once():
    errors = errors_for({"image": "", "restart": "sometimes", "ports": ["99999:1"], "x": 1})
    assert {"image", "restart", "ports[0]", "x"} <= set(errors)


def test_it_rejects_a_spec_that_is_not_an_object():
    assert "spec" in errors_for(["image", IMAGE])


# --- the source registry ------------------------------------------------------------------------

def test_it_finds_the_image_source_by_kind():
    assert isinstance(get_source("image"), ImageSource)


def test_an_unknown_kind_raises_unknown_source_with_a_readable_message():
    with pytest.raises(UnknownSource) as caught:
        get_source("nope")
    message = str(caught.value)
    assert "nope" in message and "image" in message
    assert "KeyError" not in message and "\n" not in message


def test_source_choices_list_every_registered_kind():
    assert ("image", ImageSource.label) in source_choices()
    assert [kind for kind, _label in source_choices()] == list(SOURCES)


def test_source_choices_feed_the_workload_kind_field(monkeypatch):
    class Extra(Source):
        kind = "extra"
        label = "Extra kind"

    field = Workload._meta.get_field("kind")
    assert "image" in dict(field.choices)
    assert "extra" not in dict(field.choices)
    monkeypatch.setitem(SOURCES, "extra", Extra())
    assert dict(field.choices)["extra"] == "Extra kind"


@pytest.mark.django_db
def test_a_workload_of_an_unregistered_kind_fails_model_validation():
    workload = Workload(name="web", kind="nope", spec={"image": IMAGE})
    with pytest.raises(ValidationError) as caught:
        workload.full_clean()
    assert "kind" in caught.value.message_dict
