from django import forms
from django.contrib import admin

from diagnostics.models import DiagnosticRun, Mitigation, Target
from diagnostics.targets import target_config_clean
from orion_ops.admin_site import RecordAdmin


class TargetForm(forms.ModelForm):
    class Meta:
        model = Target
        fields = ["service", "kind", "name", "config"]
        help_texts = {
            "config": 'The keys of the targets file for this kind, e.g. {"dsn_env": "ORION_TARGET_TASK_DB_DSN"}. '
            "Secrets are named by environment variable, never stored here: ORION_TARGET_* or a name listed "
            "in TARGET_SECRET_ENV, never one of Orion Ops' own settings."
        }

    def clean(self):
        data = super().clean()
        kind, config = data.get("kind"), data.get("config")
        if kind and config is not None:
            clean, errors = target_config_clean(kind, config, "config")
            if errors:
                raise forms.ValidationError([f"{path}: {message}" for path, message in errors])
            data["config"] = clean
        return data


@admin.register(Target)
class TargetAdmin(admin.ModelAdmin):
    form = TargetForm
    list_display = ["service", "kind", "name", "updated_at"]
    list_filter = ["kind"]
    search_fields = ["service__slug", "name"]
    list_select_related = ["service"]


@admin.register(DiagnosticRun)
class DiagnosticRunAdmin(RecordAdmin):
    """Runs are written by the engine only; the admin shows them."""

    list_display = ["id", "incident", "collector", "target_name", "status", "created_at", "finished_at", "attached_at"]
    list_filter = ["status", "collector", "trigger"]
    list_select_related = ["incident"]
    search_fields = ["target_name"]


@admin.register(Mitigation)
class MitigationAdmin(RecordAdmin):
    """Mitigations are an audit trail: confirmed in the API, written by their task; the admin shows them."""

    list_display = ["id", "incident", "action", "service_slug", "replicas", "status", "actor_name", "created_at"]
    list_filter = ["status", "action"]
    list_select_related = ["incident"]
    search_fields = ["service_slug", "deployment", "actor_name"]
    deletable = False  # an audit trail
