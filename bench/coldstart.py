"""Cold start: `import function_app` in fresh interpreters against the floor of this stack.

The app is imported from a staged copy of its source (function_app.py + trackly/), twice:
without any bytecode (what a package shipped without .pyc files pays on every new instance,
where the read-only mount cannot cache them) and after `compileall` (what a build that ships
bytecode pays). Probes run interleaved, round by round, so load from other processes on the
machine hits app and floor alike; the ratio is taken per round and its median reported.
"""

from __future__ import annotations

import compileall
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import summary

ROOT = Path(__file__).resolve().parents[1]

HEAVY_SDKS = ("azure.storage.blob", "msal", "azure.messaging.webpubsubservice", "azure.identity")

_PROBE = """
import json, sys, time
t, c = time.perf_counter(), time.process_time()
{imports}
elapsed, cpu = time.perf_counter() - t, time.process_time() - c
heavy = [m for m in {heavy!r} if m in sys.modules]
print(json.dumps({{"seconds": elapsed, "cpu_seconds": cpu, "modules": len(sys.modules), "heavy": heavy}}))
"""

APP_IMPORTS = "import function_app"
FLOOR_MODULES = "azure.functions, sqlalchemy.orm, pydantic, psycopg2, jwt"
FLOOR_IMPORTS = f"import {FLOOR_MODULES}"


# What a user behind a new instance waits for: the import, the worker indexing the functions,
# then the first request (here GET /issues/{id}: authentication, the ORM, a service, rendering).
_FIRST_REQUEST = """
import json, sys, time
t = time.perf_counter()
import function_app
imported = time.perf_counter() - t
import azure.functions as func
functions = function_app.app.get_functions()  # what the worker does to index the app
get_issue = next(f for f in functions if f.get_function_name() == "get_issue").get_user_function()
class Context:
    invocation_id = "cold"
req = func.HttpRequest(
    method="GET",
    url="http://127.0.0.1:7071/api/issues/{issue_id}",
    headers={{"Authorization": "Bearer {token}"}},
    params={{}},
    route_params={{"issue_id": "{issue_id}"}},
    body=b"",
)
resp = get_issue(req=req, context=Context())
first = time.perf_counter() - t
t = time.perf_counter()
resp2 = get_issue(req=req, context=Context())
warm = time.perf_counter() - t
print(json.dumps({{"imported": imported, "first": first, "warm": warm,
                  "status": [resp.status_code, resp2.status_code]}}))
"""


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPYCACHEPREFIX", "PYTHONPATH")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # never write: each probe sees exactly the staged state
    env.update(extra or {})
    return env


def _probe(
    imports: str,
    cwd: Path,
    importtime: bool = False,
    *,
    code: str | None = None,
    env: dict[str, str] | None = None,
) -> tuple[dict[str, Any], float, str]:
    args = [sys.executable, "-B"]
    if importtime:
        args += ["-X", "importtime"]
    args += ["-c", code or _PROBE.format(imports=imports, heavy=HEAVY_SDKS)]
    started = time.perf_counter()
    proc = subprocess.run(args, cwd=cwd, env=_env(env), capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    return json.loads(proc.stdout.strip().splitlines()[-1]), wall, proc.stderr


def stage(source: Path, into: Path) -> Path:
    """A copy of the deployable app source without any __pycache__."""
    into.mkdir()
    shutil.copy2(source / "function_app.py", into / "function_app.py")
    shutil.copytree(source / "trackly", into / "trackly", ignore=shutil.ignore_patterns("__pycache__"))
    return into


def slowest_imports(stderr: str, top: int = 10) -> list[dict[str, Any]]:
    """Parse `-X importtime` output: the modules whose own execution (self time) costs most."""
    rows = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        self_us, cumulative_us, name = line[len("import time:") :].split("|", 2)
        rows.append(
            {
                "module": name.strip(),
                "self_ms": int(self_us) / 1000,
                "cumulative_ms": int(cumulative_us) / 1000,
            }
        )
    rows.sort(key=lambda r: r["self_ms"], reverse=True)
    return rows[:top]


def _slowest_over_floor(app_stderr: str, floor_stderr: str, top: int = 10) -> list[dict[str, Any]]:
    """Slowest self times among modules the floor does not load (what the app adds)."""
    floor_names = {r["module"] for r in slowest_imports(floor_stderr, top=10**6)}
    return [r for r in slowest_imports(app_stderr, top=10**6) if r["module"] not in floor_names][:top]


def run(repeat: int = 7, source: Path = ROOT, first_request: dict[str, Any] | None = None) -> dict[str, Any]:
    """`first_request`: {"env": app settings, "token": access token, "issue_id": an issue} to
    also time import + indexing + the first GET /issues/{id} (and a second, warm one)."""
    first: dict[str, list[float]] = {"imported": [], "first": [], "warm": []}
    with tempfile.TemporaryDirectory(prefix="trackly-coldstart-") as tmp:
        plain = stage(source, Path(tmp) / "plain")
        compiled = stage(source, Path(tmp) / "compiled")
        compileall.compile_dir(compiled, quiet=1)
        empty = Path(tmp) / "floor"
        empty.mkdir()
        targets = {
            "app": (APP_IMPORTS, compiled),
            "app_no_bytecode": (APP_IMPORTS, plain),
            "floor": (FLOOR_IMPORTS, empty),
        }
        samples: dict[str, dict[str, list[float]]] = {
            n: {"ms": [], "cpu_ms": [], "wall": [], "modules": []} for n in targets
        }
        heavy: dict[str, set[str]] = {n: set() for n in targets}
        for imports, cwd in targets.values():
            _probe(imports, cwd)  # warm the OS file cache
        for _ in range(repeat):
            for name, (imports, cwd) in targets.items():
                data, wall, _err = _probe(imports, cwd)
                samples[name]["ms"].append(data["seconds"] * 1000)
                samples[name]["cpu_ms"].append(data["cpu_seconds"] * 1000)
                samples[name]["wall"].append(wall * 1000)
                samples[name]["modules"].append(data["modules"])
                heavy[name].update(data["heavy"])
            if first_request:
                code = _FIRST_REQUEST.format(token=first_request["token"], issue_id=first_request["issue_id"])
                data = _probe("", compiled, code=code, env=first_request["env"])[0]
                if data["status"] != [200, 200]:
                    raise RuntimeError(f"first-request probe answered {data['status']}")
                for key, values in first.items():
                    values.append(data[key] * 1000)
        floor_stderr = _probe(FLOOR_IMPORTS, empty, importtime=True)[2]
        app_stderr = _probe(APP_IMPORTS, compiled, importtime=True)[2]

    results: dict[str, Any] = {"floor_modules": FLOOR_MODULES}
    for name, s in samples.items():
        results[name] = {
            "import_ms": summary(s["ms"]),
            "import_cpu_ms": summary(s["cpu_ms"]),
            "process_wall_ms": summary(s["wall"]),
            "modules": summary(s["modules"]),
            "heavy_sdks_loaded": sorted(heavy[name]),
        }
    # Per round (same load on the machine for the three probes), then the median. The CPU-time
    # ratio is the steadier one on a busy machine: waiting for a core is not counted.
    for name in ("app", "app_no_bytecode"):
        for unit, key in (("ms", "ratio_to_floor"), ("cpu_ms", "cpu_ratio_to_floor")):
            pairs = zip(samples[name][unit], samples["floor"][unit], strict=True)
            results[name][key] = summary([a / f for a, f in pairs])
    if first_request:
        results["first_request"] = {key: summary(values) for key, values in first.items()}
    results["slowest_imports"] = slowest_imports(app_stderr)
    results["slowest_over_floor"] = _slowest_over_floor(app_stderr, floor_stderr)
    return results
