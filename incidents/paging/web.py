"""Paging's pages: the deliveries (with re-send) and a person's profile (contact methods, subscriptions,
calendar link)."""

from django import forms
from django.contrib import messages
from django.db import transaction
from django.db.models import Count, Max
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from incidents import panels, roles
from incidents.actors import Actor
from incidents.errors import DomainConflict, DomainInputError
from incidents.models import NOTE_MAX_LENGTH, Incident, Service
from incidents.paging import calendar, selectors
from incidents.paging.models import (
    ContactKind,
    ContactMethod,
    Delivery,
    DeliveryStatus,
    IncidentEscalation,
    Schedule,
    Stakeholder,
)
from incidents.paging.notify import status_update_post
from incidents.paging.outbox import delivery_resend
from incidents.paging.serializers import contact_label
from incidents.web.access import role_required


@require_GET
@role_required(roles.VIEWER)
def deliveries_page(request):
    status = request.GET.get("status", "")
    if status not in DeliveryStatus.values:
        status = ""
    deliveries = list(selectors.deliveries_recent(status=status))
    for delivery in deliveries:
        delivery.contact_labels = [f"{c['kind']}: {contact_label(c)}" for c in delivery.contacts]
    return render(
        request,
        "paging/deliveries.html",
        {
            "deliveries": deliveries,
            "status": status,
            "statuses": DeliveryStatus.choices,
            "can_resend": roles.has_role(request.user, roles.ENGINEER),
        },
    )


@require_POST
@role_required(roles.ENGINEER)
def delivery_resend_view(request, pk: int):
    delivery = get_object_or_404(Delivery, pk=pk)
    copy = delivery_resend(delivery=delivery, actor=Actor.for_user(request.user))
    messages.success(request, f"Re-sending the {delivery.event} message to {delivery.recipient} (delivery {copy.pk}).")
    return redirect("paging-deliveries")


class ContactForm(forms.Form):
    kind = forms.ChoiceField(choices=ContactKind.choices)
    address = forms.CharField(max_length=500, help_text="An email address, or the webhook or ntfy topic URL.")

    def clean(self):
        data = super().clean()
        kind, address = data.get("kind"), (data.get("address") or "").strip()
        if kind == ContactKind.EMAIL:
            forms.EmailField().clean(address)
        elif kind:
            forms.URLField(assume_scheme="https").clean(address)
            if not address.startswith(("http://", "https://")):
                raise forms.ValidationError({"address": "Use an http:// or https:// URL."})
        data["address"] = address
        return data


@require_http_methods(["GET", "POST"])
@role_required(roles.VIEWER)
def profile_page(request):
    """Everyone with a role keeps their own contact methods; pages try them in this order."""
    form = ContactForm(request.POST or None)
    if request.method == "POST":
        action = request.POST.get("action", "add")
        methods = list(ContactMethod.objects.filter(user=request.user).order_by("position", "id"))
        if action == "add" and form.is_valid():
            ContactMethod.objects.create(
                user=request.user,
                position=len(methods),
                kind=form.cleaned_data["kind"],
                address=form.cleaned_data["address"],
            )
            messages.success(request, "Contact method added.")
            return redirect("paging-profile")
        if action in ("remove", "up"):
            target = next((m for m in methods if str(m.pk) == request.POST.get("method")), None)
            if target is not None:
                with transaction.atomic():
                    if action == "remove":
                        methods.remove(target)
                    else:
                        i = methods.index(target)
                        if i:
                            methods[i - 1], methods[i] = methods[i], methods[i - 1]
                    ContactMethod.objects.filter(user=request.user).exclude(pk__in=[m.pk for m in methods]).delete()
                    for position, method in enumerate(methods):
                        ContactMethod.objects.filter(pk=method.pk).update(position=position)
            return redirect("paging-profile")
        if action in ("subscribe", "unsubscribe"):
            service = Service.objects.filter(slug=request.POST.get("service", "")).first()
            if service is None:
                messages.error(request, "No such service.")
            elif action == "subscribe":
                _, created = Stakeholder.objects.get_or_create(
                    service=service, user=request.user, defaults={"self_subscribed": True}
                )
                if created:
                    messages.success(request, f"You will get status updates on {service.name}'s incidents.")
            else:
                removed, _ = Stakeholder.objects.filter(
                    service=service, user=request.user, self_subscribed=True
                ).delete()
                if removed:
                    messages.success(request, f"No more status updates on {service.name}'s incidents.")
                elif Stakeholder.objects.filter(service=service, user=request.user).exists():
                    messages.error(request, f"The service configuration lists you for {service.name}; ask its owner.")
            return redirect("paging-profile")
        if action == "calendar":
            token = calendar.feed_token_create(user=request.user)
            links = [
                (s.slug, request.build_absolute_uri(reverse("schedule-ical", args=[s.pk])) + f"?token={token}")
                for s in Schedule.objects.order_by("slug")
            ]
            messages.success(request, "New calendar links made; the old ones stop working. Copy them now.")
            return render(request, "paging/profile.html", _profile_context(request, ContactForm(), links))
    return render(request, "paging/profile.html", _profile_context(request, form, []))


def _profile_context(request, form, calendar_links):
    methods = list(ContactMethod.objects.filter(user=request.user).order_by("position", "id"))
    mine = dict(Stakeholder.objects.filter(user=request.user).values_list("service_id", "self_subscribed"))
    services = [
        (service, "none" if service.pk not in mine else "self" if mine[service.pk] else "configured")
        for service in Service.objects.order_by("name")
    ]
    return {
        "methods": methods,
        "form": form,
        "calendar_links": calendar_links,
        "account_email": request.user.email,
        "services": services,
    }


class StatusUpdateForm(forms.Form):
    text = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), label="Status update for stakeholders", max_length=NOTE_MAX_LENGTH
    )


@require_POST
@role_required(roles.ENGINEER)
def status_update_view(request, pk: int):
    incident = get_object_or_404(Incident, pk=pk)
    back = reverse("incident-detail", args=[incident.pk]) + "#panel-paging"
    try:
        _, recipients = status_update_post(
            incident=incident, actor=Actor.for_user(request.user), text=request.POST.get("text", "")
        )
    except DomainInputError as refused:
        messages.error(request, " ".join(refused.errors.get("text", ["The update was refused."])))
        return redirect(back)
    except DomainConflict as conflict:
        messages.error(request, str(conflict))
        return redirect(back)
    sent_to = ", ".join(recipients) if recipients else "nobody (this incident's services have no stakeholders)"
    messages.success(request, f"Status update posted to the timeline and sent to {sent_to}.")
    return redirect(back)


def paging_panel_context(request, incident) -> dict:
    escalation = IncidentEscalation.objects.filter(incident=incident).first()
    deliveries = list(Delivery.objects.filter(incident=incident).order_by("-created_at", "-id")[:10])
    return {
        "escalation": escalation,
        "steps_total": len(escalation.plan["steps"]) * (1 + escalation.plan["repeat"]) if escalation else 0,
        "paging_deliveries": deliveries,
        "status_update_form": StatusUpdateForm() if roles.has_role(request.user, roles.ENGINEER) else None,
    }


def paging_panel_version(incident) -> list:
    return [
        panels.watch(Delivery.objects.filter(incident=incident), Count("id"), Max("attempts"), Max("delivered_at")),
        panels.watch(IncidentEscalation.objects.filter(incident=incident), Max("next_index"), Max("generation")),
    ]
