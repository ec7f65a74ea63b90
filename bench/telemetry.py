"""What telemetry costs: a new instance's first response and the get/list/create handlers, on and off.

    python -m bench.telemetry [--rounds 7] [--repeat 60] [--issues 10000]

Cold start: fresh interpreters import function_app, index it (`app.get_functions()`, what the
worker does) and answer a first `GET /issues/{id}` and a second one, with TELEMETRY_EXPORTER
- `off`;
- `azure_monitor` (as shipped): Microsoft's distro, built on a background thread once the first
  invocation has answered, with an
  Application Insights connection string whose endpoints are unreachable: each probe runs in a
  network namespace of its own (`unshare -n`: no interface at all), so nothing can leave the
  machine, and PostgreSQL is reached over its Unix socket;
- `azure_monitor_first_invocation`: the same, built on the first invocation before it runs;
- `azure_monitor_at_import`: built at import (what `PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY`
  has the worker do at start), to show what each choice puts on a new instance's path.
"second" is the next request (it may overlap the background start), "after ready" one sent once
the pipeline is built (traced).
Probes alternate round by round so machine load hits each alike; ratios are per round, then the
median.

Handlers: in-process (bench.inprocess), in alternating blocks within one run: telemetry off; on
with the SDK pipeline's batch processors and a JSON exporter writing to /dev/null (the Azure
exporter serializes on its thread too, then sends); on with the exporter dropping what it gets
(the cost of making, scrubbing and batching the spans and log records alone).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import app_environment, ensure_database, summary

ROOT = Path(__file__).resolve().parents[1]
SOCKET_DIR = "/var/run/postgresql"
FAKE_CONNECTION_STRING = (
    "InstrumentationKey=00000000-0000-0000-0000-000000000000;"
    "IngestionEndpoint=https://ingestion.invalid/;LiveEndpoint=https://live.invalid/"
)

_PROBE = """
import json, os, time
t = time.perf_counter()
import function_app
from trackly import telemetry
if os.environ.get("BENCH_EAGER"):
    telemetry.ensure_started()
imported = time.perf_counter() - t
import azure.functions as func
functions = function_app.app.get_functions()
get_issue = next(f for f in functions if f.get_function_name() == "get_issue").get_user_function()
class Context:
    invocation_id = "cold"
req = func.HttpRequest(method="GET", url="http://127.0.0.1:7071/api/issues/{issue_id}",
    headers={{"Authorization": "Bearer {token}"}}, params={{}},
    route_params={{"issue_id": "{issue_id}"}}, body=b"")
if os.environ.get("BENCH_SYNC_FIRST"):
    telemetry.ensure_started()  # what configuring on the first invocation, on its path, costs
resp = get_issue(req=req, context=Context())
first = time.perf_counter() - t
t = time.perf_counter()
resp2 = get_issue(req=req, context=Context())
second = time.perf_counter() - t
telemetry.wait_until_ready(60)
t = time.perf_counter()
resp3 = get_issue(req=req, context=Context())
steady = time.perf_counter() - t
print(json.dumps({{"imported": imported, "first": first, "second": second, "steady": steady,
                  "status": [resp.status_code, resp2.status_code, resp3.status_code],
                  "telemetry": telemetry._pipeline is not None}}))
os._exit(0)  # no exporter flush at exit: the endpoints are unreachable by design
"""

KEYS = ("imported", "first", "second", "steady")
# Handlers: telemetry off; on with every span and log record exported as JSON (to /dev/null); on
# with spans and log records made, scrubbed and batched but dropped by the exporter.
MODES = ("off", "on", "on_no_export")
VARIANTS = ("off", "azure_monitor", "azure_monitor_first_invocation", "azure_monitor_at_import")


def _socket_url(url: str) -> str:
    """The same database over the Unix socket (no network inside the probe's namespace)."""
    from sqlalchemy.engine import make_url

    from trackly.db import normalize_url

    parsed = make_url(normalize_url(url))
    return parsed.set(host=None, port=None, query={"host": SOCKET_DIR}).render_as_string(hide_password=False)


def _probe(env: dict[str, str], token: str, issue_id: str) -> dict[str, Any]:
    code = _PROBE.format(token=token, issue_id=issue_id)
    full = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    full.update(env)
    args = ["unshare", "-n", sys.executable, "-c", code]
    proc = subprocess.run(args, cwd=ROOT, env=full, capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"cold-start probe failed: {proc.stderr[-2000:]}")
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    if data["status"] != [200, 200, 200]:
        raise RuntimeError(f"cold-start probe answered {data['status']}: {proc.stderr[-2000:]}")
    return data


def coldstart(url: str, token: str, issue_id: str, rounds: int) -> dict[str, Any]:
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-n", "true"], check=False).returncode:
        raise SystemExit("bench.telemetry needs `unshare -n` (root) to keep the distro's exporters offline")
    base = {**app_environment(_socket_url(url)), "PYTHONDONTWRITEBYTECODE": "1"}
    azure = {
        "TELEMETRY_EXPORTER": "azure_monitor",
        "APPLICATIONINSIGHTS_CONNECTION_STRING": FAKE_CONNECTION_STRING,
        # No control-plane, statsbeat or VM-metadata lookups (they would fail anyway: no network).
        "APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED": "true",
        "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
        "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS": "otel",
    }
    variants = {
        "off": {**base, "TELEMETRY_EXPORTER": "off"},
        "azure_monitor": {**base, **azure},  # as shipped: built after the first answer
        "azure_monitor_first_invocation": {**base, **azure, "BENCH_SYNC_FIRST": "1"},
        "azure_monitor_at_import": {**base, **azure, "BENCH_EAGER": "1"},
    }
    samples: dict[str, dict[str, list[float]]] = {n: {k: [] for k in KEYS} for n in variants}
    for env in variants.values():  # warm the OS file cache
        _probe(env, token, issue_id)
    for _ in range(rounds):
        for name, env in variants.items():
            data = _probe(env, token, issue_id)
            if data["telemetry"] != (name != "off"):
                raise RuntimeError(f"{name}: telemetry was {'on' if data['telemetry'] else 'off'}")
            for key in samples[name]:
                samples[name][key].append(data[key] * 1000)
    out: dict[str, Any] = {name: {k: summary(v) for k, v in s.items()} for name, s in samples.items()}
    for name in VARIANTS[1:]:
        for key in KEYS:
            pairs = zip(samples[name][key], samples["off"][key], strict=True)
            out[name][f"{key}_ratio_to_off"] = summary([a / b for a, b in pairs])
    return out


def handlers(url: str, repeat: int, rounds: int) -> dict[str, Any]:
    from bench import inprocess
    from trackly import telemetry
    from trackly.telemetry.pipeline import Pipeline

    inprocess.apply_environment(url)
    app = inprocess.InProcessApp()
    users = inprocess.bench_users()
    issue = inprocess.sample_issue_id(url)
    from opentelemetry.sdk._logs.export import ConsoleLogRecordExporter, LogRecordExportResult
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SpanExportResult

    sink = open(os.devnull, "w")  # noqa: SIM115 (for the whole run)

    class Spans(ConsoleSpanExporter):
        serialize = True

        def export(self, spans: Any) -> Any:
            return super().export(spans) if self.serialize else SpanExportResult.SUCCESS

    class Logs(ConsoleLogRecordExporter):
        serialize = True

        def export(self, batch: Any) -> Any:
            return super().export(batch) if self.serialize else LogRecordExportResult.SUCCESS

    spans, logs = Spans(out=sink), Logs(out=sink)
    pipeline = Pipeline.build(span_exporters=[spans], log_exporters=[logs])
    telemetry.stop()
    wanted = {"get issue", "list issues (20, filtered, sorted)", "create issue"}
    results: dict[str, Any] = {}
    for scenario in inprocess.handler_scenarios(app, users, issue):
        if scenario.name not in wanted:
            continue
        call = scenario.make()
        expect = scenario.expect

        def checked(call: Any = call, expect: int = expect) -> None:
            _expect(call, expect)

        samples: dict[str, list[float]] = {m: [] for m in MODES}
        ratios: dict[str, list[float]] = {m: [] for m in MODES[1:]}
        for _ in range(rounds):
            block: dict[str, list[float]] = {}
            for mode in MODES:
                if mode == "off":
                    telemetry.stop()
                else:
                    spans.serialize = logs.serialize = mode == "on"
                    telemetry.start(pipeline)
                block[mode] = inprocess.timed(checked, repeat, warmup=3)
            telemetry.stop()
            for mode in MODES:
                samples[mode].extend(block[mode])
            for mode in MODES[1:]:
                ratios[mode].append(summary(block[mode])["median"] / summary(block["off"])["median"])
        results[scenario.name] = {f"{m}_ms": summary(samples[m]) for m in MODES}
        results[scenario.name].update({f"{m}_ratio_to_off": summary(ratios[m]) for m in MODES[1:]})
    pipeline.tracer_provider.force_flush()
    return results


def _expect(call: Any, status: int) -> None:
    resp = call()
    if resp.status != status:
        raise RuntimeError(f"expected {status}, got {resp.status}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.telemetry", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=60, help="handler calls per block")
    parser.add_argument("--issues", type=int, default=10_000, help="issues seeded into the bench database")
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/trackly_bench_telemetry")
    args = parser.parse_args(argv)
    from bench import inprocess, seed

    ensure_database(args.url)
    if (seed_count := _issue_count(args.url)) < args.issues:
        print(f"[bench] seeding {args.issues} issues (found {seed_count}) ...", flush=True)
        seed.seed(args.url, args.issues)
    inprocess.apply_environment(args.url)
    token = inprocess.bench_users().tokens["maintainer"]
    issue = inprocess.sample_issue_id(args.url)
    started = time.perf_counter()
    results = {"coldstart": coldstart(args.url, token, issue, args.rounds)}
    results["handlers"] = handlers(args.url, args.repeat, args.rounds)
    results["seconds"] = round(time.perf_counter() - started, 1)
    out = ROOT / "bench" / "results" / "telemetry.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(report(results))
    return 0


def _issue_count(url: str) -> int:
    import psycopg2

    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM issues")
            return int(cur.fetchone()[0])  # type: ignore[index]
    finally:
        conn.close()


def report(results: dict[str, Any]) -> str:
    cs = results["coldstart"]
    lines = [
        "| cold start, median ms (ratio to off) | import | first response | second | after ready |",
        "|---|---|---|---|---|",
    ]
    for name in VARIANTS:
        row = cs[name]
        cells = []
        for key in KEYS:
            cell = (
                f"{row[key]['median']:.0f}" if key in ("imported", "first") else f"{row[key]['median']:.1f}"
            )
            if name != "off":
                cell += f" ({row[f'{key}_ratio_to_off']['median']:.2f})"
            cells.append(cell)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| handler, median ms | off | on, exported as JSON (on / off) | on, not exported (on / off) |",
        "|---|---|---|---|",
    ]
    for name, row in results["handlers"].items():
        lines.append(
            f"| {name} | {row['off_ms']['median']:.2f} | {row['on_ms']['median']:.2f} "
            f"({row['on_ratio_to_off']['median']:.2f}) | {row['on_no_export_ms']['median']:.2f} "
            f"({row['on_no_export_ratio_to_off']['median']:.2f}) |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
