"""Insights on the embedded SQLite database: the same figures, medians computed in Python."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

SCRIPT = """
import json
from datetime import UTC, datetime, timedelta
from django.core.management import call_command
call_command("migrate", verbosity=0)
from incidents import insights
from incidents.models import Incident
t0 = datetime(2026, 11, 2, 10, tzinfo=UTC)
for minutes, resolved, title in ((5, 60, "x"), (10, 120, "y"), (30, 90, "z")):
    Incident.objects.create(title=title, severity="P1", status="resolved", detected_at=t0,
        ack_due_at=t0 + timedelta(minutes=15), acknowledged_at=t0 + timedelta(minutes=minutes),
        resolved_at=t0 + timedelta(minutes=resolved), dedup_key="HighErrorRate" if title != "z" else "")
period = insights.Period(start=datetime(2026, 11, 1, tzinfo=UTC), end=datetime(2026, 11, 30, tzinfo=UTC))
data = insights.insights(period=period, now=datetime(2026, 11, 28, tzinfo=UTC))
print(json.dumps({"p1": data["by_severity"]["P1"], "time_in_state": data["time_in_state"], "weekly": data["weekly"],
                  "alert_keys": data["recurring"]["alert_keys"]}))
"""


def test_insights_on_sqlite(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL")}
    env["ORION_VAR_DIR"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert data["p1"]["mtta"] == {"mean": 900.0, "median": 600.0}
    assert data["p1"]["mttr"] == {"mean": 5400.0, "median": 5400.0}
    assert data["p1"]["sla"]["met"] == 2 and data["p1"]["sla"]["due"] == 3
    assert data["time_in_state"]["detected"] == 900.0
    assert data["weekly"][0]["incidents"]["P1"] == 3
    assert data["weekly"][0]["week"] == "2026-11-02"
    assert data["alert_keys"] == [{"integration": None, "key": "HighErrorRate", "count": 2, "title": "y"}]
