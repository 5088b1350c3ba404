"""Alertmanager webhook bodies (version 4) shaped like the ones Alertmanager sends.

See Alertmanager's webhook_config documentation: a notification carries the
group's key, status, common labels/annotations and the alerts of the group.
"""

import copy
import json

ZERO_TIME = "0001-01-01T00:00:00Z"


def alert(
    *,
    alertname="HighErrorRate",
    service="task-service",
    severity="critical",
    status="firing",
    starts_at="2026-11-27T14:00:00.123456789Z",
    ends_at=ZERO_TIME,
    fingerprint=None,
    extra_labels=None,
    summary="Error rate above 5% for 5 minutes",
):
    labels = {"alertname": alertname, "namespace": "orion-prod", "severity": severity}
    if service:
        labels["service"] = service
    labels.update(extra_labels or {})
    body = {
        "status": status,
        "labels": labels,
        "annotations": {
            "summary": summary,
            "description": "5xx ratio is 8.1% (threshold 5%) on task-service",
            "runbook_url": "https://runbooks.example.com/high-error-rate",
        },
        "startsAt": starts_at,
        "endsAt": ends_at,
        "generatorURL": "http://prometheus:9090/graph?g0.expr=sum%28rate%28http_requests_total%5B5m%5D%29%29",
    }
    if fingerprint is not None:
        body["fingerprint"] = fingerprint
    return body


def webhook(alerts, *, status=None, group_key='{}/{severity="critical"}:{alertname="HighErrorRate"}', truncated=0):
    status = status or ("firing" if any(a["status"] == "firing" for a in alerts) else "resolved")
    common = {k: v for k, v in alerts[0]["labels"].items() if all(a["labels"].get(k) == v for a in alerts)}
    return {
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": truncated,
        "status": status,
        "receiver": "orion-ops",
        "groupLabels": {"alertname": alerts[0]["labels"]["alertname"]},
        "commonLabels": common,
        "commonAnnotations": {"summary": alerts[0]["annotations"]["summary"]},
        "externalURL": "http://alertmanager.monitoring:9093",
        "alerts": alerts,
    }


def firing(**kwargs):
    return webhook([alert(fingerprint="a1b2c3d4e5f60718", **kwargs)])


def resolved(**kwargs):
    kwargs.setdefault("ends_at", "2026-11-27T14:20:00Z")
    return webhook([alert(fingerprint="a1b2c3d4e5f60718", status="resolved", **kwargs)])


def storm(count: int, *, group_key='{}:{alertname="NodeDown"}'):
    """``count`` distinct firing alerts in one group: the body an alert storm produces."""
    alerts = [
        alert(
            alertname="NodeDown",
            service="task-service",
            fingerprint=f"{i:016x}",
            starts_at=f"2026-11-27T14:{i // 600 % 60:02d}:{i // 10 % 60:02d}Z",
            extra_labels={
                "instance": f"node-{i}.orion-prod.svc.cluster.local:9100",
                "pod": f"task-service-7d9f4c8b9-{i:05d}",
                "job": "node-exporter",
                "zone": "eu-west-1a",
                "team": "platform",
            },
            summary=f"Node node-{i} unreachable for 2 minutes; scrape failed with context deadline exceeded",
        )
        for i in range(count)
    ]
    return webhook(alerts, group_key=group_key)


def dumps(body) -> bytes:
    return json.dumps(body).encode()


def clone(body):
    return copy.deepcopy(body)
