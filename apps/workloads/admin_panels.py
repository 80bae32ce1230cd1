"""The one way other apps extend the workload admin page.

``apps.workloads`` imports no other app, yet the workload page shows the deploy history, the
trigger bindings and the metrics chart, and has a "Deploy now" action. Those apps add them
here, from their ``AppConfig.ready()``; ``WorkloadAdmin`` reads this registry on each request.
Nothing else should touch ``WorkloadAdmin`` (no mutating ``inlines``, no swapping
``change_form_template``).

- ``register_inline(inline_class, order=100)``: an admin inline below the workload's own
  (env, volumes, containers), in ``order``.
- ``register_panel(name, template, context, order=100, css=(), js=(), position="top")``: a
  block on the page of a saved workload, at the top of the form or (``position="bottom"``)
  below the inlines: ``template`` rendered with ``context(request, workload)`` (a dict);
  ``css`` / ``js`` are static paths added to the page's head (scripts deferred). A panel must
  render from the database in a bounded number of queries: the page makes no engine call.
  A read-only table is cheaper as a panel than as an admin inline (no form per row).
- ``register_action(name, function, description)``: an admin action on the workload list,
  ``function(model_admin, request, queryset)``, offered to users who may change workloads.
  The action named ``deploy_now`` also backs the page's "Deploy now" button.

Registering the same inline class or name again replaces the earlier entry (``ready()`` may
run more than once in tests).
"""
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Panel:
    name: str
    template: str
    context: object  # callable(request, workload) -> dict
    order: int = 100
    css: tuple = field(default_factory=tuple)
    js: tuple = field(default_factory=tuple)
    position: str = "top"  # or "bottom": below the inlines


@dataclass(frozen=True)
class Action:
    name: str
    function: object  # callable(model_admin, request, queryset)
    description: str


DEPLOY_ACTION = "deploy_now"

_inlines = {}  # inline class -> order
_panels = {}  # name -> Panel
_actions = {}  # name -> Action


def register_inline(inline_class, order=100):
    _inlines[inline_class] = order
    return inline_class


def register_panel(name, template, context, order=100, css=(), js=(), position="top"):
    if position not in ("top", "bottom"):
        raise ValueError(f"panel {name}: position must be 'top' or 'bottom'")
    _panels[name] = Panel(name, template, context, order, tuple(css), tuple(js), position)


def register_action(name, function, description):
    _actions[name] = Action(name, function, description)


def inlines():
    """The registered inline classes, in order."""
    return [cls for cls, _order in sorted(_inlines.items(), key=lambda item: item[1])]


def panels():
    return sorted(_panels.values(), key=lambda panel: (panel.order, panel.name))


def actions():
    return list(_actions.values())


def action(name):
    return _actions.get(name)
