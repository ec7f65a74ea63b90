"""Cold start: `import function_app` in fresh interpreters against the floor of this stack."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.common import summary

ROOT = Path(__file__).resolve().parents[1]

HEAVY_SDKS = ("azure.storage.blob", "msal", "azure.messaging.webpubsubservice", "azure.identity")

_PROBE = """
import json, sys, time
t = time.perf_counter()
{imports}
elapsed = time.perf_counter() - t
heavy = [m for m in {heavy!r} if m in sys.modules]
print(json.dumps({{"seconds": elapsed, "modules": len(sys.modules), "heavy": heavy}}))
"""

APP_IMPORTS = "import function_app"
FLOOR_IMPORTS = "import azure.functions, sqlalchemy, pydantic, psycopg2"


def _probe(imports: str, importtime: bool = False) -> tuple[dict[str, Any], float, str]:
    args = [sys.executable]
    if importtime:
        args += ["-X", "importtime"]
    args += ["-c", _PROBE.format(imports=imports, heavy=HEAVY_SDKS)]
    import time

    started = time.perf_counter()
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    return json.loads(proc.stdout.strip().splitlines()[-1]), wall, proc.stderr


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


def run(repeat: int = 7) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for label, imports in (("app", APP_IMPORTS), ("floor", FLOOR_IMPORTS)):
        _probe(imports)  # warm the OS file cache and .pyc files
        times, walls, modules, heavy = [], [], [], set()
        for _ in range(repeat):
            data, wall, _err = _probe(imports)
            times.append(data["seconds"] * 1000)
            walls.append(wall * 1000)
            modules.append(data["modules"])
            heavy.update(data["heavy"])
        results[label] = {
            "import_ms": summary(times),
            "process_wall_ms": summary(walls),
            "modules": summary(modules),
            "heavy_sdks_loaded": sorted(heavy),
        }
    _data, _wall, stderr = _probe(APP_IMPORTS, importtime=True)
    results["slowest_imports"] = slowest_imports(stderr)
    return results
