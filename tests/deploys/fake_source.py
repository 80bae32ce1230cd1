"""A fake Source for pure-logic deploy tests: no engine, fully scriptable."""
from apps.workloads.engine import EngineError
from apps.workloads.sources import SOURCES, Pinned, Source, SpecError

PINNED_DETAIL = {"artifact": "fake", "build": 1}


class FakeSource(Source):
    """A source whose deploy does what ``behaviour`` says, and records what it was given."""

    kind = "fake"
    label = "Fake source"
    schema_sample = {"what": "anything"}

    def __init__(self):
        self.behaviour = "succeed"
        self.hook = None  # called with the context inside deploy, before the outcome
        self.contexts = []
        self.reconcile_error = None

    def validate(self, spec):
        if spec.get("invalid"):
            raise SpecError({"invalid": "This spec is invalid."})
        return dict(spec)

    def deploy(self, ctx):
        self.contexts.append(ctx)
        ctx.log(f"fake deploy of {ctx.workload.name} with TOKEN={ctx.env.get('TOKEN', '')}")
        if self.hook:
            self.hook(ctx)
        if self.behaviour == "engine_error":
            raise EngineError("start_failed", f"boom {ctx.env.get('TOKEN', '')}")
        if self.behaviour == "crash":
            raise RuntimeError(f"unexpected bug near {ctx.env.get('TOKEN', '')}")
        return Pinned(ref="fake:1", detail=dict(PINNED_DETAIL))

    def teardown(self, workload):
        return []

    def reconcile(self, workload):
        if self.reconcile_error is not None:
            raise self.reconcile_error
        return []


def install_fake_source(monkeypatch):
    """Register a fresh FakeSource as kind "fake" for one test; returns it."""
    source = FakeSource()
    monkeypatch.setitem(SOURCES, "fake", source)
    return source
