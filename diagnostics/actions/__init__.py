"""Actions: what Orion Ops changes in a service's infrastructure, as opposed to what collectors read.

Plain Python, like the collectors: no Celery, no Django. ``diagnostics.mitigations``
decides whether and when an action runs, and records its outcome.
"""
