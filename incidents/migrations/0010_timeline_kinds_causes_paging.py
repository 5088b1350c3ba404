# The timeline kinds for likely causes (hypothesis) and paging (escalation, page, status_update).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("incidents", "0009_incident_list_order_indexes"),
    ]

    operations = [
        migrations.AlterField(
            model_name="timelineentry",
            name="kind",
            field=models.CharField(
                choices=[
                    ("created", "Created"),
                    ("status_changed", "Status changed"),
                    ("severity_changed", "Severity changed"),
                    ("commander_changed", "Commander changed"),
                    ("services_changed", "Services changed"),
                    ("details_changed", "Details changed"),
                    ("note", "Note"),
                    ("alert_fired", "Alert fired"),
                    ("alert_resolved", "Alert resolved"),
                    ("diagnostic", "Diagnostic"),
                    ("hypothesis", "Likely cause"),
                    ("sla_breached", "SLA breached"),
                    ("mitigation", "Mitigation"),
                    ("runbook_step", "Runbook step"),
                    ("action_item", "Action item"),
                    ("report", "Report"),
                    ("escalation", "Escalation step"),
                    ("page", "Page"),
                    ("status_update", "Status update"),
                ],
                max_length=32,
            ),
        ),
    ]
