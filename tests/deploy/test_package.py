"""The delivery path: what the workflow and azd ship must load and run on the Functions image.

Pure file and logic checks (no Azure): the wheel platform gate rejects exactly the wheels glibc
2.31 cannot load, the workflow resolves for that platform and logs in again before the hook,
.funcignore keeps secrets and build debris out of azd's package. `make check` runs the same
gate against the registry (scripts/check_wheels.py resolve).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def _load_checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_wheels", ROOT / "scripts" / "check_wheels.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["check_wheels"] = module
    spec.loader.exec_module(module)
    return module


check_wheels = _load_checker()


@pytest.mark.parametrize(
    ("tag", "loads"),
    [
        ("cp311-abi3-manylinux_2_34_x86_64", False),  # the cryptography wheel pip picks on ubuntu-latest
        ("cp311-abi3-manylinux_2_28_x86_64", True),
        ("cp311-abi3-manylinux_2_31_x86_64", True),
        ("cp311-abi3-manylinux_2_32_x86_64", False),
        ("cp37-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64", True),
        ("cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64", True),
        ("cp311-cp311-manylinux_2_35_x86_64.manylinux_2_34_x86_64", False),
        ("cp311-cp311-musllinux_1_2_x86_64", False),
        ("cp311-cp311-manylinux_2_17_aarch64", False),
        ("cp311-cp311-linux_x86_64", False),
        ("cp312-cp312-manylinux_2_17_x86_64", False),
        ("cp312-abi3-manylinux_2_17_x86_64", False),  # abi3 from 3.12 needs 3.12
        ("py3-none-any", True),
        ("py2.py3-none-any", True),
    ],
)
def test_wheel_tags_are_judged_against_glibc_2_31_and_cpython_3_11(tag: str, loads: bool) -> None:
    assert (check_wheels.check_tags([("w", [tag])]) == []) is loads


def test_an_installed_package_with_a_too_new_wheel_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, tag in (
        ("cryptography-50.0.2", "cp311-abi3-manylinux_2_34_x86_64"),
        ("jwt-2.10.0", "py3-none-any"),
    ):
        info = tmp_path / f"{name}.dist-info"
        info.mkdir()
        (info / "WHEEL").write_text(f"Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: {tag}\n")
    assert check_wheels.main(["installed", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "FAIL cryptography-50.0.2.dist-info" in out and "needs glibc 2.34" in out
    assert "1 wheels load" in out and "1 do not" in out
    (tmp_path / "cryptography-50.0.2.dist-info" / "WHEEL").write_text(
        "Tag: cp311-abi3-manylinux_2_28_x86_64\n"
    )
    assert check_wheels.main(["installed", str(tmp_path)]) == 0


def test_an_empty_package_is_not_a_pass(tmp_path: Path) -> None:
    assert check_wheels.main(["installed", str(tmp_path)]) == 1


def _workflow(name: str) -> dict:
    data: dict = yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())
    return data


def _steps(job: dict) -> list[dict]:
    return list(job["steps"])


def test_the_package_is_built_for_the_functions_image_and_checked() -> None:
    build = "\n".join(step.get("run", "") for step in _steps(_workflow("deploy.yml")["jobs"]["build"]))
    install = next(line for line in build.split("python -m pip install")[1:] if "--target" in line)
    for flag in (
        "--platform manylinux_2_31_x86_64",
        "--python-version 3.11",
        "--only-binary=:all:",
        "--implementation cp",
    ):
        assert flag in install, flag
    assert "check_wheels.py installed .python_packages/lib/site-packages" in build
    assert "compileall" in build and "unchecked-hash" in build  # bytecode shipped, not rebuilt per cold start
    zip_step = build[build.index("zip -r") :]
    assert "__pycache__" not in zip_step  # the compiled bytecode is shipped


def test_the_workflow_logs_in_again_right_before_the_hook_and_retries_the_deployment() -> None:
    steps = _steps(_workflow("deploy.yml")["jobs"]["provision"])
    hook = next(i for i, s in enumerate(steps) if "postprovision.sh" in s.get("run", ""))
    assert steps[hook - 1].get("uses", "").startswith("azure/login@"), "log in again just before the hook"
    deploy = next(s for s in steps if "az deployment sub create" in s.get("run", ""))
    assert "if ! deploy; then" in deploy["run"], "a failed deployment is retried once"
    # The package deploy runs in its own job, which logs in itself just before deploying.
    deploy_steps = _steps(_workflow("deploy.yml")["jobs"]["deploy"])
    ship = next(i for i, s in enumerate(deploy_steps) if "functions-action" in s.get("uses", ""))
    assert deploy_steps[ship - 1].get("uses", "").startswith("azure/login@")


def test_funcignore_keeps_secrets_and_build_debris_out_of_the_azd_package() -> None:
    lines = {line.strip() for line in (ROOT / ".funcignore").read_text().splitlines()}
    assert {".azure", ".env", "*.zip", ".python_packages"} <= lines
    service = yaml.safe_load((ROOT / "azure.yaml").read_text())["services"]["api"]
    assert service["remoteBuild"] is True  # azd: Oryx builds on the runtime's own image


def test_the_host_uses_only_blob_storage_and_shows_no_homepage() -> None:
    text = (ROOT / "infra" / "modules" / "functionapp.bicep").read_text()
    assert "AzureWebJobsStorage__blobServiceUri: hostStorageBlobEndpoint" in text
    assert "AzureWebJobsStorage__accountName" not in text  # would make the host build queue/table clients
    assert "AzureWebJobsDisableHomepage: 'true'" in text


def test_the_app_identity_is_not_a_database_administrator() -> None:
    main = (ROOT / "infra" / "main.bicep").read_text()
    block = main[main.index("entraAdministrators:") : main.index("module rbac")]
    assert "identity.outputs" not in block
    hook = (ROOT / "infra" / "hooks" / "postprovision.sh").read_text()
    assert '"$py" infra/hooks/app_role.py' in hook  # tests/deploy/test_app_role.py runs it
