"""ASGI entry of the dashboards' event stream (``incidents.web.events``), served apart from the WSGI app:

    uvicorn orion_ops.events:application --host 0.0.0.0 --port 8001

Route ``/dashboard/events/`` to it (deploy/kubernetes/ingress.yaml) or name it in ``LIVE_EVENTS_URL``.
"""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orion_ops.settings")
django.setup()

from incidents.web.events import EventsApp  # noqa: E402  (needs the settings loaded above)

application = EventsApp()
