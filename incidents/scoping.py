"""Team scoping: with ``TEAM_SCOPED=1`` a person sees and acts only on the incidents of their teams.

An incident belongs to the teams that own its services; one with no owned service
is unrouted and belongs to the triage team (``TRIAGE_TEAM``). Superusers see
everything; so do processes without a person (workers, beat, intake by an
integration's token, management commands).

The scope is applied in one place, the default managers: ``Incident.objects``
and the managers of the records that hang off an incident (timeline, alerts,
reports, action items, diagnostic runs, deliveries, …) filter by it. Every list,
count, search, page, API response and export built on them follows, and an
incident outside the scope is simply not found: a 404, never a 403, so its
existence does not leak. ``ScopeMiddleware`` (pages) and ``RolePermission``
(the API, after its token authentication) set who is asking; ``unscoped()``
lifts it for code that must see everything while serving a request.
"""

import contextvars
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.db import models
from django.db.models import Exists, OuterRef, Q

_request = contextvars.ContextVar("orion_scope_request", default=None)
_known = contextvars.ContextVar("orion_scope_known", default=None)  # user id → Scope, for one request
_lifted = contextvars.ContextVar("orion_scope_lifted", default=False)


@dataclass(frozen=True)
class Scope:
    user_id: int
    team_ids: frozenset[int]
    triage: bool  # a member of the triage team: sees unrouted incidents


def activate(request) -> tuple[contextvars.Token, contextvars.Token]:
    """Scope this request's queries to the person asking (resolved when the first query needs it)."""
    return _request.set(request), _known.set({})


def deactivate(tokens: tuple[contextvars.Token, contextvars.Token]) -> None:
    _request.reset(tokens[0])
    _known.reset(tokens[1])


@contextmanager
def unscoped():
    """See every incident inside this block, whoever is asking."""
    token = _lifted.set(True)
    try:
        yield
    finally:
        _lifted.reset(token)


def scope_of(user) -> Scope | None:
    """The user's scope, or None when they see everything (read once per request and person)."""
    if not settings.TEAM_SCOPED or user is None or not user.is_authenticated or user.is_superuser:
        return None
    known = _known.get()
    if known is not None and user.pk in known:
        return known[user.pk]
    from incidents.models import Team

    teams = dict(Team.objects.filter(members=user).values_list("pk", "slug"))
    scope = Scope(user_id=user.pk, team_ids=frozenset(teams), triage=settings.TRIAGE_TEAM in teams.values())
    if known is not None:
        known[user.pk] = scope
    return scope


def current() -> Scope | None:
    """The scope of the person whose request is being served, or None."""
    request = _request.get()
    if request is None or _lifted.get() or not settings.TEAM_SCOPED:
        return None
    # Read at each query: DRF's token authentication sets the user after the middleware ran.
    return scope_of(getattr(request, "user", None))


def incident_condition(scope: Scope, outer: str = "pk") -> Q:
    """The incidents ``scope`` may see, as a condition on the incident id found at ``outer``."""
    from incidents.models import Incident

    links = Incident.services.through.objects.filter(incident_id=OuterRef(outer))
    condition = Q(Exists(links.filter(service__team_id__in=scope.team_ids)))
    if scope.triage:
        condition |= ~Q(Exists(links.filter(service__team__isnull=False)))
    return condition


class IncidentScopedManager(models.Manager):
    """The default manager of Incident: only the incidents the current person may see."""

    def get_queryset(self):
        queryset = super().get_queryset()
        scope = current()
        return queryset if scope is None else queryset.filter(incident_condition(scope))


class ScopedByIncidentManager(models.Manager):
    """The default manager of a record that belongs to an incident (``incident`` foreign key).

    Records without an incident (``null=True`` foreign keys) stay visible.
    """

    def get_queryset(self):
        queryset = super().get_queryset()
        scope = current()
        if scope is None:
            return queryset
        condition = incident_condition(scope, outer="incident_id")
        if self.model._meta.get_field("incident").null:
            condition |= Q(incident__isnull=True)
        return queryset.filter(condition)


class PayloadScopedManager(models.Manager):
    """Raw alert bodies: those that reached a visible incident, and (for triage) those that reached none."""

    def get_queryset(self):
        queryset = super().get_queryset()
        scope = current()
        if scope is None:
            return queryset
        from incidents.models import IncidentAlert

        alerts = IncidentAlert._base_manager.filter(payload_id=OuterRef("pk"))
        condition = Q(Exists(alerts.filter(incident_condition(scope, outer="incident_id"))))
        if scope.triage:
            condition |= ~Q(Exists(alerts))
        return queryset.filter(condition)


def services_for(user, queryset):
    """The services ``user`` may file incidents for: their teams' (and, in triage, those of no team)."""
    scope = scope_of(user)
    if scope is None:
        return queryset
    condition = Q(team_id__in=scope.team_ids)
    if scope.triage:
        condition |= Q(team__isnull=True)
    return queryset.filter(condition)


def services_check(user, services) -> str | None:
    """Why ``user`` may not file or move an incident to ``services``, or None when they may."""
    scope = scope_of(user)
    if scope is None:
        return None
    outside = sorted(
        s.slug for s in services if s.team_id not in scope.team_ids and not (s.team_id is None and scope.triage)
    )
    if outside:
        return f"Not a service of your teams: {', '.join(outside)}."
    if not services and not scope.triage:
        return "Name at least one service of your teams: an incident without one goes to the triage team."
    return None


class ScopeMiddleware:
    """Sets who is asking for the request's queries (after AuthenticationMiddleware)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        tokens = activate(request)
        try:
            return self.get_response(request)
        finally:
            deactivate(tokens)
