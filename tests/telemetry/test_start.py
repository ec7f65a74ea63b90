"""TELEMETRY_EXPORTER=file in a fresh interpreter: nothing of OpenTelemetry loads at import, the
first invocation answers before the pipeline exists, later invocations are written to the file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = r"""
import json, sys
import function_app
imported_otel = sorted(m for m in sys.modules if m.startswith(("opentelemetry", "azure.monitor")))
import azure.functions as func
from trackly import telemetry

health = next(f for f in function_app.app.get_functions() if f.get_function_name() == "health").get_user_function()

def call(request_id):
    class Context:
        invocation_id = request_id
    req = func.HttpRequest(method="GET", url="http://127.0.0.1/api/health", headers={"X-Request-Id": request_id},
                           params={}, route_params={}, body=b"")
    return health(req=req, context=Context()).status_code

assert telemetry._pipeline is None
first = call("first-request")
assert telemetry.wait_until_ready(60), "the background start never finished"
later = call("later-request")
telemetry._pipeline.tracer_provider.force_flush()
telemetry._pipeline.logger_provider.force_flush()
print(json.dumps({"imported_otel": imported_otel, "status": [first, later]}))
"""


def test_the_pipeline_starts_after_the_first_answer_and_writes_the_file(
    database_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "telemetry.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEMETRY_", "PYTHON_ENABLE"))}
    env.update(
        TELEMETRY_EXPORTER="file", TELEMETRY_FILE=str(out), DATABASE_URL=database_url, LOG_LEVEL="INFO"
    )
    proc = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["imported_otel"] == []  # nothing heavy at import
    assert result["status"] == [200, 200]
    written = out.read_text()
    # The first invocation ran before the pipeline existed (not traced: it did not wait for it).
    assert '"later-request"' in written and '"first-request"' not in written
    assert '"faas.name": "health"' in written and "db.statement" in written
