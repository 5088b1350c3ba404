"""Settings for bench/: the app's own, with bench/baseline_urls.py as the URL conf (two baseline views)."""

from orion_ops.settings import *  # noqa: F403

ROOT_URLCONF = "bench.baseline_urls"
