"""function_app.py: registers every function with the right trigger, imports light and fast."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION_LIKE = {
    "TRACKLY_ENV": "production",
    "JWT_SECRET_KEY": "p" * 48,
    "DATABASE_URL": "postgresql://trackly@db.example.com:6432/trackly?sslmode=require",
    "DATABASE_AUTH": "entra",
    "AZURE_STORAGE_ACCOUNT_URL": "https://example.blob.core.windows.net",
    "WEBPUBSUB_ENDPOINT": "https://example.webpubsub.azure.com",
}

HEAVY = ("azure.storage.blob", "msal", "azure.messaging.webpubsubservice", "azure.identity")

PROBE = """
import json, sys, time
t = time.perf_counter()
import function_app
elapsed = time.perf_counter() - t
from trackly.http.router import discover
from trackly.http.endpoint import REGISTRY
http, timers = discover(function_app.app)
print(json.dumps({
    "elapsed": elapsed,
    "http": {f.name: [f.route, list(f.methods)] for f in http},
    "timers": {t.name: t.schedule for t in timers},
    "specs": sorted(REGISTRY),
    "heavy": sorted(m for m in sys.modules if m.startswith(%r)),
    "loaded": sorted(m for m in sys.modules if m.startswith(("trackly", "pydantic_settings"))),
}))
""" % (HEAVY,)


def _probe() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE", "TRACKLY", "JWT"))}
    env.update(PRODUCTION_LIKE)
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_every_function_is_registered_with_its_trigger() -> None:
    result = _probe()
    http, timers = result["http"], result["timers"]
    # Every HTTP function was declared through the endpoint layer (validation, auth, docs).
    assert sorted(http) == result["specs"]
    for name in ("health", "openapi_document", "swagger_ui", "redoc_ui"):
        assert name in http
    assert http["health"] == ["health", ["GET"]]
    # The timers named by the design, each on an app-setting schedule.
    assert timers == {
        "aggregate_daily_stats": "%STATS_SCHEDULE%",
        "publish_outbox": "%OUTBOX_SCHEDULE%",
        "cleanup_attachments": "%ATTACHMENT_CLEANUP_SCHEDULE%",
        "run_exports": "%EXPORT_SCHEDULE%",
        "run_imports": "%IMPORT_SCHEDULE%",
        "deliver_webhooks": "%WEBHOOK_SCHEDULE%",
    }


def test_import_is_light_and_needs_no_services() -> None:
    result = _probe()  # the database host does not exist: nothing may connect at import
    assert result["heavy"] == [], result["heavy"]
    # How long the import takes is measured by `make bench` (cold start), not asserted here.


def test_import_leaves_the_orm_and_the_services_for_the_first_request() -> None:
    """Every new instance pays the import: the mapped models and the service layer load on the
    first request that needs them (trackly/lazy.py, trackly/models/__init__.py), not here."""
    loaded = _probe()["loaded"]
    mapped = [m for m in loaded if m.startswith("trackly.models.") and m != "trackly.models.enums"]
    assert mapped == [], f"import function_app loaded ORM model modules: {mapped}"
    assert "pydantic_settings" not in loaded, "settings are read on the first request (get_settings)"
    services = [m for m in loaded if m.endswith(".service")]
    assert services == ["trackly.health.service"], (
        f"import function_app loaded {services}: api modules import services with trackly.lazy.lazy()"
    )
