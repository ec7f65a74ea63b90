"""The delivery path: what the workflow and azd ship must load and run on the Functions image.

Pure file and logic checks (no Azure): the wheel platform gate rejects exactly the wheels glibc
2.31 cannot load, the workflow resolves for that platform and logs in again before the hook,
.funcignore keeps secrets and build debris out of azd's package. `make check` runs the same
gate against the registry (scripts/check_wheels.py resolve).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
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


def test_the_package_is_built_for_the_functions_image_and_checked(tmp_path: Path) -> None:
    build = "\n".join(step.get("run", "") for step in _steps(_workflow("deploy.yml")["jobs"]["build"]))
    assert "check_wheels.py install .python_packages/lib/site-packages requirements.txt" in build
    assert "check_wheels.py installed .python_packages/lib/site-packages" in build
    assert "compileall" in build and "unchecked-hash" in build  # bytecode shipped, not rebuilt per cold start
    zip_step = build[build.index("zip -r") :]
    assert "__pycache__" not in zip_step  # the compiled bytecode is shipped
    # What `install` runs: the hashed lock exactly, for the image's tags.
    lock = tmp_path / "requirements.txt"
    lock.write_text("alpha==1.0 \\\n    --hash=sha256:" + "0" * 64 + "\n")
    command = " ".join(check_wheels.pip_install_command(lock, tmp_path / "t", {"openapi-ui-bundles"}))
    for flag in (
        "--platform manylinux_2_31_x86_64",
        "--platform manylinux_2_28_x86_64",  # pip does not widen 2_31 to older tags by itself
        "--platform manylinux2014_x86_64",
        "--python-version 3.11",
        "--implementation cp",
        "--abi cp311",
        "--only-binary=:all:",
        "--no-binary=openapi-ui-bundles",
        "--require-hashes",
        "--no-deps",
        f"--target {tmp_path / 't'}",
    ):
        assert flag in command, flag
    assert "--platform manylinux_2_32_x86_64" not in command
    loose = tmp_path / "loose.txt"
    loose.write_text("alpha>=1\n")
    assert "--require-hashes" not in check_wheels.pip_install_command(loose, tmp_path / "t", set())


def test_a_lock_entry_is_cut_out_with_its_hashes(tmp_path: Path) -> None:
    lock = tmp_path / "requirements.txt"
    lock.write_text(
        "alpha==1.0 \\\n    --hash=sha256:aa \\\n    --hash=sha256:bb\n    # via x\n"
        "OpenAPI_UI.Bundles==0.3.0 \\\n    --hash=sha256:cc\n"
    )
    assert (
        check_wheels.requirement_block(lock, "alpha")
        == "alpha==1.0 \\\n    --hash=sha256:aa \\\n    --hash=sha256:bb\n"
    )
    assert (
        check_wheels.requirement_block(lock, "openapi-ui-bundles")
        == "OpenAPI_UI.Bundles==0.3.0 \\\n    --hash=sha256:cc\n"
    )


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
    assert {".azure", ".env", "*.zip", ".python_packages", "requirements-dev.txt", "requirements.in"} <= lines
    assert "__pycache__" not in lines  # the prepackage hook's bytecode is shipped
    service = yaml.safe_load((ROOT / "azure.yaml").read_text())["services"]["api"]
    assert service["remoteBuild"] is True  # azd: Oryx builds on the runtime's own image


def test_azd_ships_the_apps_bytecode_like_the_workflow(tmp_path: Path) -> None:
    azure = yaml.safe_load((ROOT / "azure.yaml").read_text())
    hooks = azure["services"]["api"]["hooks"]
    assert hooks["prepackage"]["posix"]["run"] == "bash infra/hooks/prepackage.sh"
    assert hooks["postpackage"]["posix"]["run"] == "bash infra/hooks/prepackage.sh --clean"
    # Run the hook on a copy of the app: unchecked-hash CPython 3.11 bytecode for every module.
    for part in ("trackly", "migrations", "infra/hooks"):
        shutil.copytree(ROOT / part, tmp_path / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "function_app.py", tmp_path / "function_app.py")
    env = {**os.environ, "PYTHON": sys.executable}
    subprocess.run(
        ["bash", str(tmp_path / "infra/hooks/prepackage.sh")], check=True, env=env, capture_output=True
    )
    sources = list((tmp_path / "trackly").rglob("*.py"))
    assert sources
    for source in [*sources, tmp_path / "function_app.py"]:
        compiled = source.parent / "__pycache__" / f"{source.stem}.cpython-311.pyc"
        assert compiled.exists(), compiled
        flags = int.from_bytes(compiled.read_bytes()[4:8], "little")
        assert flags == 0b01, f"{compiled}: not unchecked-hash ({flags})"  # PEP 552: hash-based, unchecked
    subprocess.run(
        ["bash", str(tmp_path / "infra/hooks/prepackage.sh"), "--clean"],
        check=True,
        env=env,
        capture_output=True,
    )
    assert not list(tmp_path.rglob("__pycache__"))


def test_the_deploy_action_is_current() -> None:
    steps = _steps(_workflow("deploy.yml")["jobs"]["deploy"])
    uses = next(s["uses"] for s in steps if "functions-action" in s.get("uses", ""))
    version = tuple(int(part) for part in uses.split("@v")[1].split("."))
    # v1.5.5 moved to the node24 runtime (node20 actions are being retired); v1.5.7 is current.
    assert version >= (1, 5, 7), uses


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
