"""One registration convention: hooks, panels and periodic tasks are registered in AppConfig.ready() only;
views share no private helpers and pass no state on the request."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ("incidents", "diagnostics", "orion_ops")
# Calls that register something with another part of the app: only an AppConfig.ready() makes them.
REGISTRATIONS = {
    "register",
    "on_transition",
    "on_incident_created",
    "on_services_added",
    "on_draft",
    "on_seeded",
    "on_event",
}
REGISTRIES = {"panels", "lifecycle", "services", "incident_services", "reports", "metrics", "demo", "events"}


def sources():
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path, ast.parse(path.read_text(), filename=str(path))


def registrations_outside_ready(tree: ast.Module) -> list[int]:
    """Line numbers of registry calls (or decorators) that are not inside a ``ready`` method."""
    inside_ready = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "ready":
            inside_ready |= {id(child) for child in ast.walk(node)}
    found = []
    for node in ast.walk(tree):
        target = node.func if isinstance(node, ast.Call) else None
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            for decorator in node.decorator_list:
                base = decorator.func if isinstance(decorator, ast.Call) else decorator
                if _is_registration(base):
                    found.append(decorator.lineno)
        if target is not None and _is_registration(target) and id(node) not in inside_ready:
            found.append(node.lineno)
        if isinstance(target, ast.Attribute) and target.attr == "add_periodic_task" and id(node) not in inside_ready:
            found.append(node.lineno)
    return found


def _is_registration(node) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and node.attr in REGISTRATIONS
        and isinstance(node.value, ast.Name)
        and node.value.id in REGISTRIES
    )


def test_hooks_panels_and_periodic_tasks_are_registered_in_ready_only():
    offenders = [
        f"{path.relative_to(ROOT)}:{line}" for path, tree in sources() for line in registrations_outside_ready(tree)
    ]
    assert offenders == []


def test_no_view_imports_a_sibling_views_private_names():
    offenders = []
    for path, tree in sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and ".views" in f".{node.module or ''}":
                offenders += [f"{path.relative_to(ROOT)}: {alias.name}" for alias in node.names if alias.name[0] == "_"]
    assert offenders == []


def test_no_state_is_passed_on_the_request():
    offenders = []
    for path, tree in sources():
        for node in ast.walk(tree):
            targets = node.targets if isinstance(node, ast.Assign) else []
            if isinstance(node, (ast.AnnAssign, ast.AugAssign)):
                targets = [node.target]
            for target in targets:
                if isinstance(target, ast.Attribute) and getattr(target.value, "id", None) == "request":
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} request.{target.attr}")
            is_setattr = isinstance(node, ast.Call) and getattr(node.func, "id", None) == "setattr" and node.args
            if is_setattr and getattr(node.args[0], "id", None) == "request":
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} setattr(request, …)")
    assert offenders == []


@pytest.mark.parametrize(
    "name",
    [
        "sla-breaches",
        "process-pending-alert-payloads",
        "purge-alert-payloads",
        "remind-overdue-action-items",
        "purge-idempotency-keys",
        "draft-missing-reports",
        "diagnostics-reap-stale-runs",
        "diagnostics-reap-stale-mitigations",
    ],
)
def test_every_periodic_task_is_scheduled(name):
    from orion_ops.celery import app

    assert app.conf.beat_schedule[name]["task"].split(".")[0] in ("incidents", "diagnostics")


def test_every_panel_is_registered_by_the_apps():
    from incidents import panels

    assert [p.key for p in panels.registered()] == [
        "likely-causes",
        "runbook-checklist",
        "paging",
        "alerts",
        "diagnostics",
        "mitigations",
        "report",
        "action-items",
    ]
