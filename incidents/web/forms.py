"""Browser forms. Bound forms are re-rendered on error, so what was typed is kept."""

import re
from datetime import datetime, time, timedelta

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.text import normalize_newlines

from incidents import insights, lifecycle
from incidents.models import (
    NOTE_MAX_LENGTH,
    OPEN_STATUSES,
    REPORT_SECTION_MAX_LENGTH,
    REVIEW_COMMENT_MAX_LENGTH,
    ActionItemPriority,
    ActionItemStatus,
    ActionItemType,
    Resolution,
    Service,
    Severity,
    Status,
)
from incidents.timeline import NOTE_TOO_LONG
from incidents.web import reads, throttle

# What each severity means, shown beside the choice when filing.
SEVERITY_CRITERIA = {
    Severity.P0: "Outage, data loss or corruption, security breach.",
    Severity.P1: "Partial degradation, error rate above 5 %, user-facing slowness.",
    Severity.P2: "Minor functionality broken, a non-critical feature failing.",
    Severity.P3: "Minor bug or cosmetic issue.",
}

# The resolutions offered to a person (lifecycle decides which are allowed).
PERSON_RESOLUTION_CHOICES = [(r.value, r.label) for r in lifecycle.PERSON_RESOLUTIONS]


class PlainLabelsForm(forms.Form):
    """Labels without Django's trailing colon; the layout sets them apart."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class ThrottledSignIn:
    """Refuses a sign-in while its username or address is locked out, and counts the failures.

    Mixed into the app's sign-in form and the admin's, so failures at either add
    up in one set of counters (``incidents.web.throttle``) and a lockout holds at both.
    """

    throttled_message = (
        "Too many failed sign-ins for this username from your address. "
        "Try again in %(minutes)s min, or ask an administrator to reset your password."
    )

    throttled = False

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        address = throttle.client_address(self.request)
        lockout = throttle.lockout_for(username, address)
        if lockout:
            self.throttled = True
            raise ValidationError(
                self.throttled_message, code="throttled", params={"minutes": lockout.retry_after_minutes}
            )
        try:
            cleaned = super().clean()
        except ValidationError:
            # A wrong password, or (in the admin) a right one of a user who is not staff:
            # both are refused with the same message, so both count.
            throttle.failure_record(username, address)
            raise
        throttle.failures_clear(username, address)
        return cleaned


class LoginForm(ThrottledSignIn, AuthenticationForm):
    """Django's sign-in form, with the lockout."""


class AdminLoginForm(ThrottledSignIn, AdminAuthenticationForm):
    """The admin's sign-in form (staff only), with the same lockout and counters as the app's."""


class IncidentCreateForm(PlainLabelsForm):
    title = forms.CharField(
        max_length=200,
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "placeholder": "Checkout returns 502 for 20 % of requests"}
        ),
    )
    severity = forms.ChoiceField(choices=Severity.choices, widget=forms.RadioSelect)
    services = forms.ModelMultipleChoiceField(
        queryset=Service.objects.order_by("slug"), required=False, widget=forms.CheckboxSelectMultiple
    )
    description = forms.CharField(
        max_length=20000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 5, "placeholder": "What is seen, since when, who is affected."}),
    )

    def clean_title(self):
        title = self.cleaned_data["title"].strip()
        if not title:
            raise ValidationError("Give the incident a title.")
        return title

    def severity_options(self):
        """Each severity radio with its criteria, for the template."""
        from incidents import sla

        return [
            {
                "widget": radio,
                "value": radio.data["value"],
                "criteria": SEVERITY_CRITERIA[radio.data["value"]],
                "target": sla.format_target(radio.data["value"]),
            }
            for radio in self["severity"]
        ]


def incident_reference_parse(value: str) -> int | None:
    match = re.fullmatch(r"\s*(?:INC-?)?(\d+)\s*", value or "", flags=re.IGNORECASE)
    return int(match.group(1)) if match else None


class NoteField(forms.CharField):
    """A note's text, held to the domain's limit and message. Line breaks are counted as the browser counts them
    (one each), as ``incidents.timeline.note_clean`` stores them. Whether a note is required is the domain's call."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", NOTE_MAX_LENGTH)
        kwargs.setdefault("required", False)
        kwargs.setdefault("error_messages", {"max_length": NOTE_TOO_LONG})
        super().__init__(**kwargs)

    def to_python(self, value):
        return normalize_newlines(super().to_python(value))


class TransitionForm(PlainLabelsForm):
    """A move's fields as typed. The rules (which moves need a note, which resolutions a person may pick,
    what a duplicate needs) are ``lifecycle.transition``'s: its refusals come back as field errors."""

    to = forms.ChoiceField(choices=Status.choices, widget=forms.HiddenInput)
    expected_status = forms.ChoiceField(choices=Status.choices, required=False, widget=forms.HiddenInput)
    note = NoteField(widget=forms.Textarea(attrs={"rows": 3}))
    resolution = forms.CharField(
        required=False, initial=Resolution.FIXED, widget=forms.Select(choices=PERSON_RESOLUTION_CHOICES)
    )
    duplicate_of = forms.CharField(
        max_length=20, required=False, label="Duplicate of", widget=forms.TextInput(attrs={"placeholder": "INC-123"})
    )

    def __init__(self, *args, move: str | None = None, **kwargs):
        # Ids unique per move: the page shows one form per allowed move.
        kwargs.setdefault("auto_id", f"id_{move}_%s" if move else "id_%s")
        super().__init__(*args, **kwargs)

    def clean_duplicate_of(self):
        raw = self.cleaned_data["duplicate_of"]
        if not raw.strip():
            return None
        number = incident_reference_parse(raw)
        if number is None:
            raise ValidationError("Give the original incident as INC-123 or 123.")
        return number

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("to") == Status.RESOLVED:
            cleaned["resolution"] = cleaned.get("resolution") or None
            if cleaned["resolution"] != Resolution.DUPLICATE:
                # The field stays in the page for every resolution; only a duplicate sends it on.
                cleaned["duplicate_of"] = None
        else:
            # Only the resolve form shows these fields.
            cleaned["resolution"] = None
            cleaned["duplicate_of"] = None
        return cleaned


class SeverityForm(PlainLabelsForm):
    severity = forms.ChoiceField(choices=Severity.choices)


class CommanderForm(PlainLabelsForm):
    """``commander`` is a responder's id, empty for "no commander"; ``take`` means "me"."""

    commander = forms.ModelChoiceField(queryset=None, required=False, empty_label="No commander")
    take = forms.BooleanField(required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["commander"].queryset = reads.responders()


class NoteForm(PlainLabelsForm):
    """A note as typed; ``services.note_add`` refuses a blank one."""

    text = NoteField(
        label="Add a note",
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "What you see, what you tried, what is next."}),
    )


def _with_any(choices, label="Any"):
    return [("", label), *choices]


class DashboardFilterForm(PlainLabelsForm):
    status = forms.ChoiceField(
        choices=_with_any([(s.value, s.label) for s in OPEN_STATUSES], "Any open"), required=False
    )
    severity = forms.ChoiceField(choices=_with_any(Severity.choices), required=False)
    service = forms.ModelChoiceField(
        queryset=Service.objects.order_by("slug"), to_field_name="slug", required=False, empty_label="Any"
    )
    mine = forms.BooleanField(required=False, label="Mine (I command)")

    def filters(self) -> dict:
        """The valid filters; a bad value (a deleted service, say) is dropped rather than failing the page."""
        self.is_valid()
        return {name: value for name, value in getattr(self, "cleaned_data", {}).items() if value}


class HistoryFilterForm(PlainLabelsForm):
    q = forms.CharField(required=False, max_length=200, label="Search")
    status = forms.ChoiceField(choices=_with_any(Status.choices), required=False)
    severity = forms.ChoiceField(choices=_with_any(Severity.choices), required=False)
    service = forms.ModelChoiceField(
        queryset=Service.objects.order_by("slug"), to_field_name="slug", required=False, empty_label="Any"
    )
    detected_after = forms.DateField(
        required=False, label="Detected from", widget=forms.DateInput(attrs={"type": "date"})
    )
    detected_before = forms.DateField(
        required=False, label="Detected until", widget=forms.DateInput(attrs={"type": "date"})
    )

    def filters(self) -> dict:
        self.is_valid()
        return {name: value for name, value in getattr(self, "cleaned_data", {}).items() if value}


# Review: reports, action items, insights ---------------------------------------------------------------

REPORT_SECTIONS = (
    ("summary", "Summary"),
    ("root_cause", "Root Cause"),
    ("impact", "Impact"),
    ("resolution", "Resolution"),
    ("lessons_learned", "Lessons Learned"),
)


class SectionField(forms.CharField):
    """A report section's Markdown. Browsers send a textarea's line breaks as CRLF but count them as one
    character against ``maxlength``; normalising first makes the server count what the browser let through."""

    def to_python(self, value):
        return normalize_newlines(super().to_python(value))


def _section_field(rows: int, label: str | None = None, **attrs):
    return SectionField(
        max_length=REPORT_SECTION_MAX_LENGTH,
        required=False,
        label=label,
        error_messages={
            "max_length": f"A section holds at most {REPORT_SECTION_MAX_LENGTH:,} characters; this one has "
            "%(show_value)d. Shorten it, or link long logs rather than pasting them."
        },
        widget=forms.Textarea(attrs={"rows": rows, "class": "markdown", "spellcheck": "true", **attrs}),
    )


class ReportForm(PlainLabelsForm):
    """The report's text and its view of the timeline, saved against the ``version`` it was opened at."""

    version = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    title = forms.CharField(max_length=200, error_messages={"required": "Give the report a title."})
    summary = _section_field(5)
    root_cause = _section_field(6, label="Root Cause")
    impact = _section_field(7)
    resolution = _section_field(5)
    # Rendered after the action items, outside the <form> element: the attribute keeps it in the form.
    lessons_learned = _section_field(5, label="Lessons Learned", form="report-form")
    pinned_entries = forms.TypedMultipleChoiceField(coerce=int, required=False, widget=forms.CheckboxSelectMultiple)
    hidden_entries = forms.TypedMultipleChoiceField(coerce=int, required=False, widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args, entry_ids=(), **kwargs):
        super().__init__(*args, **kwargs)
        choices = [(str(pk), str(pk)) for pk in entry_ids]
        self.fields["pinned_entries"].choices = choices
        self.fields["hidden_entries"].choices = choices

    def clean_title(self):
        title = self.cleaned_data["title"].strip()
        if not title:
            raise ValidationError("Give the report a title.")
        return title

    def clean(self):
        cleaned = super().clean()
        both = set(cleaned.get("pinned_entries") or ()) & set(cleaned.get("hidden_entries") or ())
        if both:
            self.add_error(None, "An entry cannot be both pinned and hidden; untick one of the two.")
        return cleaned

    def sections(self):
        """(field, label) pairs in the report template's order, for the template."""
        return [self[name] for name, _ in REPORT_SECTIONS]

    def changes(self) -> dict:
        return {name: value for name, value in self.cleaned_data.items() if name != "version"}


class SectionPreviewForm(forms.Form):
    """One section's text for the live preview, held to the same limit as saving it."""

    text = _section_field(5)


class RequestChangesForm(PlainLabelsForm):
    """The comment as typed; ``reports.report_request_changes`` refuses a blank one."""

    comment = forms.CharField(
        max_length=REVIEW_COMMENT_MAX_LENGTH,
        required=False,
        label="What should change?",
        widget=forms.Textarea(
            attrs={"rows": 3, "placeholder": "The root cause names a symptom; say why the pool ran out."}
        ),
    )


class ActionItemForm(PlainLabelsForm):
    title = forms.CharField(
        max_length=300,
        error_messages={"required": "Say what should be done."},
        widget=forms.TextInput(attrs={"placeholder": "Alert on pool saturation above 80 %"}),
    )
    owner = forms.ModelChoiceField(queryset=None, required=False, empty_label="Nobody yet")
    due_date = forms.DateField(required=False, label="Due", widget=forms.DateInput(attrs={"type": "date"}))
    type = forms.ChoiceField(choices=ActionItemType.choices, initial=ActionItemType.CORRECTIVE)
    priority = forms.ChoiceField(choices=ActionItemPriority.choices, initial=ActionItemPriority.MEDIUM)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "id_action_%s")
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = reads.responders()

    def clean_title(self):
        title = self.cleaned_data["title"].strip()
        if not title:
            raise ValidationError("Say what should be done.")
        return title


class ActionItemStatusForm(PlainLabelsForm):
    status = forms.ChoiceField(choices=ActionItemStatus.choices)


BOARD_STATUSES = [(ActionItemStatus.OPEN.value, "Open"), ("any", "Any status")] + [
    (s.value, s.label) for s in (ActionItemStatus.DONE, ActionItemStatus.WONT_DO)
]


class ActionItemFilterForm(PlainLabelsForm):
    status = forms.ChoiceField(choices=BOARD_STATUSES, required=False)
    service = forms.ModelChoiceField(
        queryset=Service.objects.order_by("slug"), to_field_name="slug", required=False, empty_label="Any"
    )
    mine = forms.BooleanField(required=False, label="Mine (I own)")
    overdue = forms.BooleanField(required=False, label="Overdue only")

    def filters(self) -> dict:
        self.is_valid()
        return {name: value for name, value in getattr(self, "cleaned_data", {}).items() if value}


INSIGHT_PERIODS = [("7", "Last 7 days"), ("30", "Last 30 days"), ("90", "Last 90 days"), ("custom", "Dates")]


class InsightsForm(PlainLabelsForm):
    """A period (the last 7/30/90 days, or from–until dates, both inclusive) and an optional service."""

    period = forms.ChoiceField(choices=INSIGHT_PERIODS, required=False, initial="30")
    start = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, label="Until", widget=forms.DateInput(attrs={"type": "date"}))
    service = forms.ModelChoiceField(
        queryset=Service.objects.order_by("slug"), to_field_name="slug", required=False, empty_label="All services"
    )

    MAX_DAYS = 3660

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        # Dates count when "Dates" is picked, or when no period is (a link with only ?start=…).
        if cleaned.get("period") == "custom" or (not cleaned.get("period") and (start or end)):
            cleaned["period"] = "custom"
            if not start:
                self.add_error("start", "Pick the first day.")
            if start and end and end < start:
                self.add_error("end", "The last day comes after the first.")
            if start and (((end or timezone.localdate()) - start).days > self.MAX_DAYS):
                self.add_error("start", "Pick at most ten years.")
        return cleaned

    def chosen_period(self, *, now=None) -> tuple["insights.Period", str]:
        """The period asked for (the last 30 days when the form is empty or wrong) and how to say it."""
        now = now or timezone.now()
        data = self.cleaned_data if self.is_valid() else {}
        choice = data.get("period") or "30"
        if choice == "custom" and data.get("start"):
            start_day = data["start"]
            end_day = data.get("end") or timezone.localdate(now)
            tz = timezone.get_current_timezone()
            period = insights.Period(
                start=datetime.combine(start_day, time.min, tz),
                end=datetime.combine(end_day + timedelta(days=1), time.min, tz),
            )
            return period, f"{start_day:%Y-%m-%d} – {end_day:%Y-%m-%d}"
        days = int(choice) if choice.isdigit() else 30
        return insights.Period.last_days(days, now=now), f"last {days} days"
