import django_filters

from incidents.api.fields import IsoDateTimeFilter
from incidents.models import OPEN_STATUSES, Incident, Service, Severity, Status


class IncidentFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=Status.choices)
    severity = django_filters.MultipleChoiceFilter(choices=Severity.choices)
    service = django_filters.ModelChoiceFilter(
        field_name="services", to_field_name="slug", queryset=Service.objects.all()
    )
    open = django_filters.BooleanFilter(method="filter_open", label="Only open incidents (true) or only closed (false)")
    detected_after = IsoDateTimeFilter(field_name="detected_at", lookup_expr="gte")
    detected_before = IsoDateTimeFilter(field_name="detected_at", lookup_expr="lt")
    q = django_filters.CharFilter(field_name="title", lookup_expr="icontains", label="Title contains")

    class Meta:
        model = Incident
        fields = ["status", "severity", "service", "open", "source", "dedup_key"]

    def get_form_class(self):
        # The form's fields follow from the filters' declarations alone (their querysets are
        # fixed, not per request): built once per class, not on every list request.
        form_class = type(self).__dict__.get("_form_class")
        if form_class is None:
            form_class = super().get_form_class()
            type(self)._form_class = form_class
        return form_class

    def filter_open(self, queryset, name, value):
        if value is None:
            return queryset
        if value:
            return queryset.filter(status__in=OPEN_STATUSES)
        return queryset.exclude(status__in=OPEN_STATUSES)
