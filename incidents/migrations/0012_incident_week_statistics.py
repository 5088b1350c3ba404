"""Tell PostgreSQL's planner how many (week, severity) groups the incidents fall into.

Insights group the period's incidents by the week they were detected in
(``date_bin('7 days', detected_at, Monday 2000-01-03)``). Without statistics on that
expression the planner assumes one group per incident, sorts every row (spilling to disk)
and compiles the query with JIT; with them it hashes the few dozen groups in memory.
"""

from django.db import migrations

WEEK = "date_bin('7 days', detected_at, TIMESTAMPTZ '2000-01-03 00:00:00+00')"


def create_statistics(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"CREATE STATISTICS IF NOT EXISTS incident_week_severity (ndistinct) ON ({WEEK}), severity "
        "FROM incidents_incident"
    )
    schema_editor.execute("ANALYZE incidents_incident")


def drop_statistics(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP STATISTICS IF EXISTS incident_week_severity")


class Migration(migrations.Migration):
    dependencies = [("incidents", "0011_teams")]

    operations = [migrations.RunPython(create_statistics, drop_statistics, elidable=False)]
