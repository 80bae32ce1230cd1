"""The kinds a workload can have, for ``Workload.kind`` choices.

The source registry is plugged in here at WorkloadsConfig.ready(), so the models never import
the sources (which import the engine and, through it, back into the models). The choices are
read on every use, so a kind registered later (a plugin, a test's fake) is a choice at once."""
_choices_source = None


def use_choices_from(source_choices):
    """``source_choices()`` returns ``[(kind, label), ...]``: the registry's current kinds."""
    global _choices_source
    _choices_source = source_choices


def kind_choices():
    return _choices_source() if _choices_source is not None else []
