"""The insights' daily rollup on PostgreSQL: per UTC day, severity and service, the sums,
counts and MTTA/MTTR values the insights add up (``incidents.insights``).

``incidents_insight_day`` says which days have been rolled up and whether a change has
made a day stale since; ``incidents_insight_cell`` holds the figures (``service_id`` 0 is
every incident of the day, whatever its services). Triggers mark a day stale whenever an
incident detected that day is inserted, deleted, or changes a field the figures read, or
gains or loses a service; a TRUNCATE of the incidents empties the rollup.

Days from the last two UTC days are not marked: they are never rolled up (the insights
read them live), so the storm of writes on today's incidents never touches the rollup.
Marking upserts the day's row, which holds its lock until the writer commits; a refresh
locks the same row before it reads the incidents, so it either waits for the writer or
is followed by a new mark. The SQLite database has no rollup (its insights read the rows).
"""

from django.db import migrations

UTC_DAY = "(({}.detected_at AT TIME ZONE 'UTC')::date)"

CREATE = f"""
CREATE TABLE incidents_insight_day (
    day date PRIMARY KEY,
    stale boolean NOT NULL DEFAULT true,
    computed_at timestamptz,
    unacked_due_last timestamptz
);
CREATE TABLE incidents_insight_cell (
    day date NOT NULL,
    severity varchar(2) NOT NULL,
    service_id bigint NOT NULL,
    incidents integer NOT NULL,
    resolved integer NOT NULL,
    acked integer NOT NULL,
    sla_met integer NOT NULL,
    mtta_sum double precision, mtta_n integer NOT NULL,
    mttr_sum double precision, mttr_n integer NOT NULL,
    detected_sum double precision, detected_n integer NOT NULL,
    acknowledged_sum double precision, acknowledged_n integer NOT NULL,
    diagnosing_sum double precision, diagnosing_n integer NOT NULL,
    mitigated_sum double precision, mitigated_n integer NOT NULL,
    mtta_values double precision[],
    mttr_values double precision[]
);
CREATE INDEX incidents_insight_cell_service_day ON incidents_insight_cell (service_id, day);

CREATE FUNCTION orion_insight_days_stale(days date[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    -- The row is locked even where the WHERE keeps it from being written again.
    INSERT INTO incidents_insight_day AS known (day, stale)
    SELECT DISTINCT day, true FROM unnest(days) AS day
    WHERE day < (now() AT TIME ZONE 'UTC')::date - 2
    ORDER BY day
    ON CONFLICT (day) DO UPDATE SET stale = true WHERE NOT known.stale;
END
$$;

CREATE FUNCTION orion_insight_row_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        PERFORM orion_insight_days_stale(ARRAY[{UTC_DAY.format("OLD")}, {UTC_DAY.format("NEW")}]);
    ELSE
        PERFORM orion_insight_days_stale(ARRAY[{UTC_DAY.format("NEW")}]);
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION orion_insight_rows_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM orion_insight_days_stale(ARRAY(SELECT {UTC_DAY.format("o")} FROM old_rows AS o));
    RETURN NULL;
END
$$;

CREATE FUNCTION orion_insight_service_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM orion_insight_days_stale(ARRAY(
        SELECT {UTC_DAY.format("i")} FROM incidents_incident AS i
        WHERE i.id = NEW.incident_id AND i.detected_at < now() - interval '2 days'));
    RETURN NULL;
END
$$;

CREATE FUNCTION orion_insight_services_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM orion_insight_days_stale(ARRAY(
        SELECT {UTC_DAY.format("i")} FROM old_rows AS o JOIN incidents_incident AS i ON i.id = o.incident_id));
    RETURN NULL;
END
$$;

CREATE FUNCTION orion_insight_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE incidents_insight_cell, incidents_insight_day;
    RETURN NULL;
END
$$;

-- Row triggers where the intake writes (one incident at a time, today's), so that the
-- condition, evaluated without calling a function, keeps its cost at nothing; statement
-- triggers where rows go in bulk (deletions, a purge of old incidents).
CREATE TRIGGER insight_incidents_inserted AFTER INSERT ON incidents_incident FOR EACH ROW
    WHEN (NEW.detected_at < now() - interval '2 days')
    EXECUTE FUNCTION orion_insight_row_changed();
CREATE TRIGGER insight_incidents_updated AFTER UPDATE ON incidents_incident FOR EACH ROW
    WHEN ((OLD.detected_at < now() - interval '2 days' OR NEW.detected_at < now() - interval '2 days')
          AND (OLD.detected_at, OLD.severity, OLD.acknowledged_at, OLD.diagnosing_at, OLD.mitigated_at,
               OLD.resolved_at, OLD.ack_due_at)
          IS DISTINCT FROM
              (NEW.detected_at, NEW.severity, NEW.acknowledged_at, NEW.diagnosing_at, NEW.mitigated_at,
               NEW.resolved_at, NEW.ack_due_at))
    EXECUTE FUNCTION orion_insight_row_changed();
CREATE TRIGGER insight_incidents_deleted AFTER DELETE ON incidents_incident
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION orion_insight_rows_deleted();
CREATE TRIGGER insight_incidents_truncated AFTER TRUNCATE ON incidents_incident
    FOR EACH STATEMENT EXECUTE FUNCTION orion_insight_truncated();
CREATE TRIGGER insight_services_added AFTER INSERT ON incidents_incident_services FOR EACH ROW
    EXECUTE FUNCTION orion_insight_service_added();
CREATE TRIGGER insight_services_removed AFTER DELETE ON incidents_incident_services
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION orion_insight_services_removed();
CREATE TRIGGER insight_services_truncated AFTER TRUNCATE ON incidents_incident_services
    FOR EACH STATEMENT EXECUTE FUNCTION orion_insight_truncated();
"""  # noqa: S608 (no values: the day expression written out per table alias)

DROP = """
DROP TRIGGER IF EXISTS insight_services_truncated ON incidents_incident_services;
DROP TRIGGER IF EXISTS insight_services_removed ON incidents_incident_services;
DROP TRIGGER IF EXISTS insight_services_added ON incidents_incident_services;
DROP TRIGGER IF EXISTS insight_incidents_truncated ON incidents_incident;
DROP TRIGGER IF EXISTS insight_incidents_updated ON incidents_incident;
DROP TRIGGER IF EXISTS insight_incidents_deleted ON incidents_incident;
DROP TRIGGER IF EXISTS insight_incidents_inserted ON incidents_incident;
DROP FUNCTION IF EXISTS orion_insight_truncated();
DROP FUNCTION IF EXISTS orion_insight_services_removed();
DROP FUNCTION IF EXISTS orion_insight_service_added();
DROP FUNCTION IF EXISTS orion_insight_rows_deleted();
DROP FUNCTION IF EXISTS orion_insight_row_changed();
DROP FUNCTION IF EXISTS orion_insight_days_stale(date[]);
DROP TABLE IF EXISTS incidents_insight_cell;
DROP TABLE IF EXISTS incidents_insight_day;
"""


def create_rollup(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop_rollup(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("incidents", "0012_incident_week_statistics")]

    operations = [migrations.RunPython(create_rollup, drop_rollup, elidable=False)]
