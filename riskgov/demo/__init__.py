"""The demo's composition: loading the real data, the seeded snapshot and its health run.

Used by ``manage.py demo`` (``riskgov.web.management.commands.demo``), the benchmarks
(``bench/``) and the tests; plain functions over the apps' services, no UI.
"""

from riskgov.demo.composition import DEMO_USERS, DemoFiles, demo_health_run, demo_load, demo_snapshot_ensure

__all__ = ("DEMO_USERS", "DemoFiles", "demo_health_run", "demo_load", "demo_snapshot_ensure")
