"""Flex Consumption rules that Azure enforces only when it deploys, checked offline.

    python3 scripts/check_flex.py [--root DIR]

checkov and the Bicep parser accept a Function App that a Flex Consumption plan then refuses
(ARM error 51021 for `siteConfig.ftpsState`: "The following site configuration property
(Site.SiteConfig.FtpsState) for Flex Consumption sites is invalid"; Azure/azure-cli#31414,
microsoft/azure-pipelines-tasks#21032). This script fails (exit 1) on:

1. any site property or `siteConfig` property of a `Microsoft.Web/sites` (or `sites/config`)
   resource that the Flex Consumption deprecations list names, at any depth, any letter case;
2. any app setting that list names, as an object key or a string literal in any .bicep file;
3. scale settings Azure would refuse or the app would not match: `maximumInstanceCount` below the
   plan's lowest allowed maximum or above its highest, the HTTP per-instance concurrency unset,
   the worker thread count or the pool size not following it.

Sources (re-read them when Azure changes; the lists below follow them):
- "Flex Consumption plan deprecations", Azure Functions app settings reference
  (learn.microsoft.com/azure/azure-functions/functions-app-settings#flex-consumption-plan-deprecations,
  MicrosoftDocs/azure-docs articles/azure-functions/functions-app-settings.md as mirrored at
  025a55b), plus functionsRuntimeScaleMonitoringEnabled (an Elastic Premium runtime scale switch
  the Flex scale controller replaces).
- The lowest maximum instance count: "Currently the lowest maximum instance count value is `1`,
  and the highest supported maximum instance count value is `1000`" (Event-driven scaling in
  Azure Functions, "Limit scale-out", Flex Consumption pivot, revision ms.date 08/03/2026).
  Earlier revisions of the Flex Consumption plan page ("Considerations" > Scale, ms.date
  05/12/2025 and before) said 40; the newest revision wins, so the connection budget alone
  decides how far the app scales.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Site properties and siteConfig properties (compared case-insensitively; ARM is case-insensitive).
DEPRECATED_SITE_PROPERTIES = frozenset(
    name.lower()
    for name in (
        "alwaysOn",
        "containerSize",
        "ftpsState",
        "isReserved",
        "isXenon",
        "javaVersion",
        "linuxFxVersion",
        "netFrameworkVersion",
        "powerShellVersion",
        "functionAppScaleLimit",
        "preWarmedInstanceCount",
        "functionsRuntimeScaleMonitoringEnabled",
        "use32BitWorkerProcess",
        "vnetBackupRestoreEnabled",
        "vnetContentShareEnabled",
        "vnetImagePullEnabled",
        "vnetRouteAllEnabled",
        "windowsFxVersion",
    )
)

DEPRECATED_APP_SETTINGS = frozenset(
    (
        "ENABLE_ORYX_BUILD",
        "FUNCTIONS_EXTENSION_VERSION",
        "FUNCTIONS_WORKER_RUNTIME",
        "FUNCTIONS_WORKER_RUNTIME_VERSION",
        "FUNCTIONS_MAX_HTTP_CONCURRENCY",
        "FUNCTIONS_WORKER_PROCESS_COUNT",
        "FUNCTIONS_WORKER_DYNAMIC_CONCURRENCY_ENABLED",
        "SCM_DO_BUILD_DURING_DEPLOYMENT",
        "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
        "WEBSITE_CONTENTOVERVNET",
        "WEBSITE_CONTENTSHARE",
        "WEBSITE_DNS_SERVER",
        "WEBSITE_MAX_DYNAMIC_APPLICATION_SCALE_OUT",
        "WEBSITE_NODE_DEFAULT_VERSION",
        "WEBSITE_RUN_FROM_PACKAGE",
        "WEBSITE_SKIP_CONTENTSHARE_VALIDATION",
        "WEBSITE_VNET_ROUTE_ALL",
    )
)

FLEX_LOWEST_MAXIMUM_INSTANCE_COUNT = 1
FLEX_HIGHEST_MAXIMUM_INSTANCE_COUNT = 1000

_SITE_RESOURCE = re.compile(
    r"resource\s+\w+\s+'Microsoft\.Web/sites(?:/config)?@[^']*'\s*=\s*(?:if\s*\([^)]*\)\s*)?\{"
)
_KEY = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*:(?!:)")
_STRING = re.compile(r"'((?:[^'\\]|\\.)*)'")


def strip_comments(text: str) -> str:
    """Blank out // and /* */ comments (not inside strings), keeping offsets."""
    out = []
    i, n = 0, len(text)
    while i < n:
        if text[i] == "'":
            j = i + 1
            while j < n and text[j] != "'":
                j += 2 if text[j] == "\\" else 1
            out.append(text[i : j + 1])
            i = j + 1
        elif text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end == -1 else end
            out.append(" " * (end - i))
            i = end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end == -1 else end + 2
            out.append(re.sub(r"[^\n]", " ", text[i:end]))
            i = end
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def blank_strings(text: str) -> str:
    return _STRING.sub(lambda m: "'" + " " * len(m.group(1)) + "'", text)


def block_at(text: str, open_brace: int) -> str:
    """The text from `open_brace` to its matching closing brace (strings already blanked)."""
    depth = 0
    for i in range(open_brace, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[open_brace : i + 1]
    return text[open_brace:]


def site_property_problems(path: Path, text: str) -> list[str]:
    readable = strip_comments(text)
    code = blank_strings(readable)  # same offsets: keys are searched where strings cannot match
    problems = []
    for match in _SITE_RESOURCE.finditer(readable):
        body = block_at(code, match.end() - 1)
        for key in _KEY.finditer(body):
            if key.group(1).lower() in DEPRECATED_SITE_PROPERTIES:
                line = code.count("\n", 0, match.end() - 1 + key.start()) + 1
                problems.append(
                    f"{path}:{line}: '{key.group(1)}' is not valid on a Flex Consumption site "
                    "(Flex Consumption plan deprecations)"
                )
    return problems


def app_setting_problems(path: Path, text: str) -> list[str]:
    code = strip_comments(text)
    problems = []
    names = [(m.group(1), m.start()) for m in _KEY.finditer(blank_strings(code))]
    names += [(m.group(1), m.start()) for m in _STRING.finditer(code)]
    for name, at in names:
        if name in DEPRECATED_APP_SETTINGS:
            line = code.count("\n", 0, at) + 1
            problems.append(
                f"{path}:{line}: app setting {name} is not valid on Flex Consumption "
                "(functionAppConfig replaces it)"
            )
    return problems


def _min_max(text: str, param: str) -> tuple[int | None, int | None]:
    """@minValue / @maxValue among the decorator lines right above `param <name>`."""
    lines = text.splitlines()
    at = next((i for i, line in enumerate(lines) if re.match(rf"param {param}\b", line)), None)
    decorators = []
    while at is not None and at > 0 and lines[at - 1].lstrip().startswith("@"):
        at -= 1
        decorators.append(lines[at])
    found = "\n".join(decorators)
    low = re.search(r"@minValue\((\d+)\)", found)
    high = re.search(r"@maxValue\((\d+)\)", found)
    return (int(low.group(1)) if low else None, int(high.group(1)) if high else None)


def scale_problems(root: Path) -> list[str]:
    main = strip_comments((root / "infra/main.bicep").read_text())
    app = strip_comments((root / "infra/modules/functionapp.bicep").read_text())
    problems = []
    low_bound, high_bound = FLEX_LOWEST_MAXIMUM_INSTANCE_COUNT, FLEX_HIGHEST_MAXIMUM_INSTANCE_COUNT
    for text, file, name in (
        (main, "infra/main.bicep", "functionMaxInstances"),
        (app, "infra/modules/functionapp.bicep", "maximumInstanceCount"),
    ):
        low, high = _min_max(text, name)
        if low is None or low < FLEX_LOWEST_MAXIMUM_INSTANCE_COUNT:
            problems.append(f"{file}: param {name} needs @minValue(>= {low_bound}), found {low}")
        if high is None or high > FLEX_HIGHEST_MAXIMUM_INSTANCE_COUNT:
            problems.append(f"{file}: param {name} needs @maxValue(<= {high_bound}), found {high}")
    floor = re.search(r"^var flexLowestMaximumInstanceCount = (\d+)\s*$", main, re.M)
    if not floor or int(floor.group(1)) < FLEX_LOWEST_MAXIMUM_INSTANCE_COUNT:
        problems.append(f"infra/main.bicep: var flexLowestMaximumInstanceCount must be >= {low_bound}")
    if not re.search(
        r"^var maximumInstanceCount = max\(flexLowestMaximumInstanceCount, min\(functionMaxInstances, "
        r"connectionBudget / connectionsPerInstance\)\)\s*$",
        main,
        re.M,
    ):
        problems.append(
            "infra/main.bicep: maximumInstanceCount must be max(flexLowestMaximumInstanceCount, "
            "min(functionMaxInstances, connectionBudget / connectionsPerInstance))"
        )
    if not re.search(r"^var databasePoolSize = httpPerInstanceConcurrency\s*$", main, re.M):
        problems.append("infra/main.bicep: the pool size must equal the per-instance HTTP concurrency")
    if not re.search(
        r"triggers: \{\s*http: \{\s*perInstanceConcurrency: httpPerInstanceConcurrency\s*\}", app
    ):
        problems.append(
            "functionapp.bicep: scaleAndConcurrency.triggers.http.perInstanceConcurrency is not set"
        )
    if "PYTHON_THREADPOOL_THREAD_COUNT: string(httpPerInstanceConcurrency)" not in app:
        problems.append("functionapp.bicep: PYTHON_THREADPOOL_THREAD_COUNT must follow the HTTP concurrency")
    return problems


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT)
    root = parser.parse_args(argv).root
    files = sorted((root / "infra").glob("**/*.bicep"))
    if not files:
        print(f"check_flex: no .bicep files under {root / 'infra'}")
        return 1
    properties: list[str] = []
    settings: list[str] = []
    for path in files:
        text = path.read_text()
        shown = path.relative_to(root)
        properties += site_property_problems(shown, text)
        settings += app_setting_problems(shown, text)
    scale = scale_problems(root)
    for problem in properties + settings + scale:
        print(f"  FAIL {problem}")
    groups = {"site properties": properties, "app settings": settings, "scale settings": scale}
    failed = [name for name, found in groups.items() if found]
    print(f"flex consumption: {len(groups) - len(failed)} passed, {len(failed)} failed ({len(files)} files)")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
