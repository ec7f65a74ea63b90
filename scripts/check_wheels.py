"""Every wheel shipped to Azure must load in the Functions Python 3.11 image (glibc 2.31, x86_64).

pip on a newer Linux (ubuntu-latest has glibc 2.39) picks wheels such as cryptography's
`manylinux_2_34` build; the Functions image cannot load them, `import jwt` fails when
function_app is imported, and the host indexes no function at all.

    python scripts/check_wheels.py resolve [requirements.txt]   # what pip picks for the image
    python scripts/check_wheels.py wheelhouse DIR [requirements.txt]
    python scripts/check_wheels.py installed DIR                 # a built .python_packages tree

`resolve` asks pip (the registry; it downloads no binary wheel) which files it would install for
the image's platform tags; `installed` reads the `Tag:` lines of every `*.dist-info/WHEEL` in a
built package. Both fail (exit 1) naming each wheel the image cannot load.

Some requirements publish only an sdist (openapi-ui-bundles), and pip refuses sdists when it
resolves for another platform. `wheelhouse` builds those into DIR, only if the result is a pure
`py3-none-any` wheel (any other build would be for this machine, not the runtime); the install
then uses `--find-links DIR`.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

# The Functions Python 3.11 image: Debian 11 (glibc 2.31), CPython 3.11, x86_64
# (Azure/azure-functions-python-worker#1651).
RUNTIME_GLIBC = (2, 31)
RUNTIME_PYTHON = (3, 11)
PIP_PLATFORM_ARGS = [
    "--platform",
    "manylinux_2_31_x86_64",
    "--platform",
    "manylinux2014_x86_64",
    "--implementation",
    "cp",
    "--python-version",
    "3.11",
    "--abi",
    "cp311",
    "--only-binary=:all:",
]
_LEGACY_MANYLINUX = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}
_MANYLINUX = re.compile(r"^manylinux_(\d+)_(\d+)_(x86_64)$")


def platform_problem(platform: str) -> str | None:
    """Why a wheel platform tag cannot load on the runtime, or None if it can."""
    if platform == "any":
        return None
    legacy = re.fullmatch(r"(manylinux1|manylinux2010|manylinux2014)_x86_64", platform)
    if legacy:
        return None  # glibc 2.5 / 2.12 / 2.17 <= 2.31
    match = _MANYLINUX.match(platform)
    if match:
        needs = (int(match.group(1)), int(match.group(2)))
        if needs <= RUNTIME_GLIBC:
            return None
        return f"needs glibc {needs[0]}.{needs[1]}, the runtime has {RUNTIME_GLIBC[0]}.{RUNTIME_GLIBC[1]}"
    return f"platform {platform} is not a manylinux x86_64 platform the runtime can load"


def interpreter_problem(python: str, abi: str) -> str | None:
    """Why a wheel's python/abi tags do not fit CPython 3.11, or None."""
    for py in python.split("."):
        if py in ("py3", "py2.py3") or py == "py3" or re.fullmatch(r"py3\d*", py):
            return None
        match = re.fullmatch(r"cp3(\d+)", py)
        if match:
            minor = int(match.group(1))
            if abi == "abi3" and minor <= RUNTIME_PYTHON[1]:
                return None
            if minor == RUNTIME_PYTHON[1] and abi in ("cp311", "none"):
                return None
    return f"built for {python}-{abi}, not CPython 3.11"


def tag_problems(tag: str) -> list[str]:
    """Problems of one compressed tag such as `cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64`.

    A compressed platform set loads if any one of its platforms does."""
    python, abi, platforms = tag.split("-")
    problems = []
    interpreter = interpreter_problem(python, abi)
    if interpreter:
        problems.append(interpreter)
    reasons = [platform_problem(p) for p in platforms.split(".")]
    if all(reasons):
        problems.append("; ".join(r for r in reasons if r))
    return problems


def check_tags(named_tags: Iterable[tuple[str, list[str]]]) -> list[str]:
    """[(wheel name, its tags)] -> one line per wheel the runtime cannot load."""
    failures = []
    for name, tags in named_tags:
        if not tags:
            failures.append(f"{name}: no wheel tags (not installed from a wheel?)")
            continue
        per_tag = [tag_problems(t) for t in tags]
        if all(per_tag):  # a wheel loads if any of its tags fits
            failures.append(f"{name} ({', '.join(tags)}): {per_tag[0][0]}")
    return failures


def installed_tags(site_packages: Path) -> list[tuple[str, list[str]]]:
    out = []
    for wheel in sorted(site_packages.glob("*.dist-info/WHEEL")):
        tags = [
            line.split(":", 1)[1].strip()
            for line in wheel.read_text(encoding="utf-8").splitlines()
            if line.startswith("Tag:")
        ]
        out.append((wheel.parent.name, tags))
    return out


def wheel_filename_tags(filename: str) -> list[str]:
    """`name-1.0-cp311-abi3-manylinux_2_28_x86_64.whl` -> its (compressed) tag."""
    parts = filename[: -len(".whl")].split("-")
    return ["-".join(parts[-3:])]


_NO_MATCH = re.compile(r"No matching distribution found for ([A-Za-z0-9_.\-]+)")


def _dry_run(requirements: Path, wheelhouse: Path, report: Path) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--dry-run",
        "--ignore-installed",
        "--target",
        str(report.parent / "target"),
        "--report",
        str(report),
        "--find-links",
        str(wheelhouse),
        *PIP_PLATFORM_ARGS,
        "-r",
        str(requirements),
    ]
    return subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603


def _requirement_line(requirements: Path, name: str) -> str:
    wanted = re.sub(r"[-_.]+", "-", name).lower()
    for line in requirements.read_text().splitlines():
        spec = line.split("#", 1)[0].strip()
        head = re.split(r"[<>=!~;\[ ]", spec, maxsplit=1)[0]
        if spec and re.sub(r"[-_.]+", "-", head).lower() == wanted:
            return spec
    return name


def build_wheelhouse(wheelhouse: Path, requirements: Path) -> dict[str, Any]:
    """Build pure wheels for sdist-only requirements until pip resolves for the runtime; return
    pip's installation report."""
    wheelhouse.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        built: set[str] = set()
        while True:
            done = _dry_run(requirements, wheelhouse, report)
            if done.returncode == 0:
                data: dict[str, Any] = json.loads(report.read_text())
                return data
            missing = _NO_MATCH.search(done.stderr)
            if not missing or missing.group(1) in built:
                # No wheel the runtime can load exists for some requirement: that is a failure too.
                detail = done.stderr.strip()
                raise SystemExit(f"check_wheels: pip could not resolve for the runtime:\n{detail}")
            name = missing.group(1)
            built.add(name)
            spec = _requirement_line(requirements, name)
            subprocess.run(  # noqa: S603
                [sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check",
                 "--no-deps", "--wheel-dir", str(wheelhouse), spec],
                check=True,
            )  # fmt: skip
            for wheel in wheelhouse.glob("*.whl"):
                if not wheel.name.endswith("-none-any.whl"):
                    wheel.unlink()
                    raise SystemExit(f"check_wheels: {name} has no wheel for the runtime and builds a "
                                     f"platform-specific one ({wheel.name}); use remote build instead")


def resolved_tags(requirements: Path, wheelhouse: Path | None = None) -> list[tuple[str, list[str]]]:
    with tempfile.TemporaryDirectory() as tmp:
        data = build_wheelhouse(wheelhouse or Path(tmp) / "wheelhouse", requirements)
    out = []
    for item in data["install"]:
        url = item["download_info"]["url"]
        filename = url.rsplit("/", 1)[-1].split("#", 1)[0]
        name = f"{item['metadata']['name']} {item['metadata']['version']}"
        out.append((name, wheel_filename_tags(filename) if filename.endswith(".whl") else []))
    return out


def main(argv: list[str]) -> int:
    if len(argv) < 1 or argv[0] not in ("resolve", "installed", "wheelhouse"):
        print(__doc__)
        return 2
    if argv[0] == "wheelhouse":
        if len(argv) < 2:
            print("usage: check_wheels.py wheelhouse DIR [requirements.txt]")
            return 2
        requirements = Path(argv[2] if len(argv) > 2 else "requirements.txt")
        named = resolved_tags(requirements, Path(argv[1]))
        where = f"{requirements} resolved for the runtime with --find-links {argv[1]}"
    elif argv[0] == "resolve":
        requirements = Path(argv[1] if len(argv) > 1 else "requirements.txt")
        named = resolved_tags(requirements)
        where = f"{requirements} resolved for the runtime"
    else:
        if len(argv) < 2:
            print("usage: check_wheels.py installed DIR")
            return 2
        named = installed_tags(Path(argv[1]))
        where = argv[1]
        if not named:
            print(f"check_wheels: no *.dist-info in {where}")
            return 1
    failures = check_tags(named)
    for line in failures:
        print(f"  FAIL {line}")
    print(
        f"check_wheels: {len(named) - len(failures)} wheels load on glibc "
        f"{RUNTIME_GLIBC[0]}.{RUNTIME_GLIBC[1]} / CPython 3.11, {len(failures)} do not ({where})"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
