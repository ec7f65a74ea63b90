"""`make check` refuses what a Flex Consumption plan refuses (scripts/check_flex.py, run by
scripts/check_infra.sh): each case injects one property into a copy of infra/ and runs the same
check_infra.sh group `make check` runs ("flex": stdlib only, no Azure, no tool install)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SITE = "infra/modules/functionapp.bicep"
MAIN = "infra/main.bicep"


def _copy(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "infra", tmp_path / "infra")
    shutil.copytree(ROOT / "scripts", tmp_path / "scripts")
    return tmp_path


def _run(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "INFRA_CHECKS": "flex"}
    return subprocess.run(
        ["bash", str(root / "scripts" / "check_infra.sh")],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def _edit(root: Path, path: str, old: str, new: str) -> None:
    file = root / path
    text = file.read_text()
    assert text.count(old) == 1, f"{old!r} not found once in {path}"
    file.write_text(text.replace(old, new))


def test_the_repository_passes(tmp_path: Path) -> None:
    done = _run(_copy(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "flex consumption: 3 passed, 0 failed" in done.stdout


@pytest.mark.parametrize(
    ("anchor", "injected", "named"),
    [
        ("      minTlsVersion: '1.2'\n", "      ftpsState: 'Disabled'\n", "ftpsState"),
        ("      minTlsVersion: '1.2'\n", "      FtpsState: 'FtpsOnly'\n", "FtpsState"),  # ARM ignores case
        ("      minTlsVersion: '1.2'\n", "      alwaysOn: false\n", "alwaysOn"),
        ("      minTlsVersion: '1.2'\n", "      linuxFxVersion: 'Python|3.11'\n", "linuxFxVersion"),
        ("      minTlsVersion: '1.2'\n", "      use32BitWorkerProcess: false\n", "use32BitWorkerProcess"),
        ("      minTlsVersion: '1.2'\n", "      preWarmedInstanceCount: 1\n", "preWarmedInstanceCount"),
        ("      minTlsVersion: '1.2'\n", "      netFrameworkVersion: 'v8.0'\n", "netFrameworkVersion"),
        ("      minTlsVersion: '1.2'\n", "      functionAppScaleLimit: 40\n", "functionAppScaleLimit"),
        (
            "      minTlsVersion: '1.2'\n",
            "      functionsRuntimeScaleMonitoringEnabled: false\n",
            "functionsRuntimeScaleMonitoringEnabled",
        ),
        ("    httpsOnly: true\n", "    vnetRouteAllEnabled: false\n", "vnetRouteAllEnabled"),
        (
            "  AzureWebJobsDisableHomepage: 'true'\n",
            "  FUNCTIONS_WORKER_RUNTIME: 'python'\n",
            "FUNCTIONS_WORKER_RUNTIME",
        ),
        (
            "  AzureWebJobsDisableHomepage: 'true'\n",
            "  WEBSITE_RUN_FROM_PACKAGE: '1'\n",
            "WEBSITE_RUN_FROM_PACKAGE",
        ),
    ],
)
def test_a_property_flex_rejects_fails_make_check(
    tmp_path: Path, anchor: str, injected: str, named: str
) -> None:
    root = _copy(tmp_path)
    _edit(root, SITE, anchor, anchor + injected)
    done = _run(root)
    assert done.returncode == 1, done.stdout
    assert f"FAIL {SITE}:" in done.stdout and named in done.stdout
    assert "check_infra: FAILED" in done.stdout


def test_a_sites_config_resource_is_checked_too(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    (root / SITE).write_text(
        (root / SITE).read_text()
        + "\nresource web 'Microsoft.Web/sites/config@2024-04-01' = {\n  parent: site\n  name: 'web'\n"
        "  properties: {\n    alwaysOn: false\n  }\n}\n"
    )
    done = _run(root)
    assert done.returncode == 1 and "'alwaysOn' is not valid" in done.stdout


def test_a_comment_or_another_resource_type_is_not_a_finding(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    _edit(
        root,
        SITE,
        "      minTlsVersion: '1.2'\n",
        "      minTlsVersion: '1.2'\n      // ftpsState: 'Disabled'\n",
    )
    # Nor does a comment in another module.
    (root / "infra/modules/storage.bicep").write_text(
        (root / "infra/modules/storage.bicep").read_text().replace("// ", "// alwaysOn: ", 1)
    )
    done = _run(root)
    assert done.returncode == 0, done.stdout


@pytest.mark.parametrize(
    ("path", "old", "new", "message"),
    [
        (
            SITE,
            "@minValue(1)\n@maxValue(1000)\n@description('Flex",
            "@minValue(0)\n@maxValue(1000)\n@description('Flex",
            "maximumInstanceCount needs @minValue",
        ),
        (
            MAIN,
            "@maxValue(1000)\n@description('Upper bound",
            "@maxValue(2000)\n@description('Upper bound",
            "functionMaxInstances needs @maxValue",
        ),
        (
            MAIN,
            "var flexLowestMaximumInstanceCount = 1\n",
            "var flexLowestMaximumInstanceCount = 0\n",
            "flexLowestMaximumInstanceCount must be",
        ),
        (
            MAIN,
            "var databasePoolSize = httpPerInstanceConcurrency\n",
            "var databasePoolSize = 4\n",
            "pool size must equal",
        ),
        (
            SITE,
            "perInstanceConcurrency: httpPerInstanceConcurrency",
            "perInstanceConcurrency: 1",
            "perInstanceConcurrency is not set",
        ),
    ],
)
def test_scale_settings_azure_refuses_or_the_app_mismatches_fail(
    tmp_path: Path, path: str, old: str, new: str, message: str
) -> None:
    root = _copy(tmp_path)
    _edit(root, path, old, new)
    done = _run(root)
    assert done.returncode == 1 and message in done.stdout, done.stdout
