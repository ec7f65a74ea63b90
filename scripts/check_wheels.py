"""Every wheel shipped to Azure must load in the Functions Python 3.11 image (glibc 2.31, x86_64).

pip on a newer Linux (ubuntu-latest has glibc 2.39) picks wheels such as cryptography's
`manylinux_2_34` build; the Functions image cannot load them, `import jwt` fails when
function_app is imported, and the host indexes no function at all.

    python scripts/check_wheels.py resolve [requirements.txt]          # what pip picks for the image
    python scripts/check_wheels.py install TARGET [requirements.txt]   # install it (deploy.yml)
    python scripts/check_wheels.py installed DIR                       # a built .python_packages tree

`resolve` asks pip (the registry; it downloads no binary wheel) which files it would install for
the image's platform tags; `installed` reads the `Tag:` lines of every `*.dist-info/WHEEL` in a
built package. Both fail (exit 1) naming each wheel the image cannot load. `install` installs the
lock into TARGET for the image (pip --target with the same platform tags) and then runs the
`installed` check on it.

requirements.txt is a hashed lock (scripts/locks.py): pip runs with --require-hashes and
--no-deps, so it installs exactly the pinned files and resolves nothing itself.

Some requirements publish only an sdist (openapi-ui-bundles), and pip refuses sdists when it
resolves for another platform. Those are named with --no-binary (pip then checks the sdist's hash
from the lock), and only if the sdist builds a pure `py3-none-any` wheel (any other build would
be for this machine, not the runtime).
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
# pip takes --platform literally (it does not widen manylinux_2_31 to older glibc versions the way
# an installed interpreter does), so every manylinux tag glibc 2.31 loads is listed.
RUNTIME_PLATFORMS = [
    *(f"manylinux_2_{minor}_x86_64" for minor in range(RUNTIME_GLIBC[1], 4, -1)),
    "manylinux2014_x86_64",
    "manylinux2010_x86_64",
    "manylinux1_x86_64",
]
PIP_PLATFORM_ARGS = [
    *(arg for platform in RUNTIME_PLATFORMS for arg in ("--platform", platform)),
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


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pip_install_command(
    requirements: Path, target: Path, sdists: Iterable[str], *, report: Path | None = None
) -> list[str]:
    """pip install of the lock into `target` for the runtime's platform (`report`: dry run)."""
    locked = "--hash=" in requirements.read_text()
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    if report is not None:
        command += ["--dry-run", "--ignore-installed", "--report", str(report)]
    command += ["--target", str(target), *PIP_PLATFORM_ARGS]
    command += [f"--no-binary={name}" for name in sorted(sdists)]
    if locked:
        command += ["--require-hashes", "--no-deps"]
    return [*command, "-r", str(requirements)]


def requirement_block(requirements: Path, name: str) -> str:
    """The lock's entry for `name` (its `name==version` line and hash continuation lines)."""
    lines = requirements.read_text().splitlines()
    wanted = normalize(name)
    for i, line in enumerate(lines):
        spec = line.split("#", 1)[0].strip()
        head = re.split(r"[<>=!~;\[ \\]", spec, maxsplit=1)[0]
        if spec and normalize(head) == wanted:
            block = [line]
            while block[-1].rstrip().endswith("\\") and i + len(block) < len(lines):
                block.append(lines[i + len(block)])
            return "\n".join(block).rstrip().rstrip("\\") + "\n"
    return name + "\n"


def check_pure_build(requirements: Path, name: str) -> None:
    """Build `name` from its sdist; refuse it unless the wheel is pure (`py3-none-any`)."""
    with tempfile.TemporaryDirectory() as tmp:
        single = Path(tmp) / "one.txt"
        single.write_text(requirement_block(requirements, name))
        hashed = ["--require-hashes"] if "--hash=" in single.read_text() else []
        subprocess.run(  # noqa: S603
            [sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check",
             "--no-deps", *hashed, "--wheel-dir", tmp, "-r", str(single)],
            check=True,
        )  # fmt: skip
        for wheel in Path(tmp).glob("*.whl"):
            if not wheel.name.endswith("-none-any.whl"):
                raise SystemExit(f"check_wheels: {name} has no wheel for the runtime and builds a "
                                 f"platform-specific one ({wheel.name}); use remote build instead")


def resolve(requirements: Path) -> tuple[dict[str, Any], set[str]]:
    """pip's installation report for the runtime, and the sdist-only requirements it needs
    (each checked to build a pure wheel)."""
    sdists: set[str] = set()
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        while True:
            command = pip_install_command(requirements, Path(tmp) / "target", sdists, report=report)
            done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
            if done.returncode == 0:
                data: dict[str, Any] = json.loads(report.read_text())
                return data, sdists
            missing = _NO_MATCH.search(done.stderr)
            if not missing or normalize(missing.group(1)) in sdists:
                # No wheel the runtime can load exists for some requirement: that is a failure too.
                detail = done.stderr.strip()
                raise SystemExit(f"check_wheels: pip could not resolve for the runtime:\n{detail}")
            check_pure_build(requirements, missing.group(1))
            sdists.add(normalize(missing.group(1)))


def resolved_tags(requirements: Path) -> list[tuple[str, list[str]]]:
    data, sdists = resolve(requirements)
    out = []
    for item in data["install"]:
        url = item["download_info"]["url"]
        filename = url.rsplit("/", 1)[-1].split("#", 1)[0]
        name = f"{item['metadata']['name']} {item['metadata']['version']}"
        if filename.endswith(".whl"):
            out.append((name, wheel_filename_tags(filename)))
        elif normalize(item["metadata"]["name"]) in sdists:
            out.append((name, ["py3-none-any"]))  # check_pure_build built it so
        else:
            out.append((name, []))
    return out


def install(requirements: Path, target: Path) -> None:
    _, sdists = resolve(requirements)
    subprocess.run(pip_install_command(requirements, target, sdists), check=True)  # noqa: S603


def main(argv: list[str]) -> int:
    if len(argv) < 1 or argv[0] not in ("resolve", "installed", "install"):
        print(__doc__)
        return 2
    if argv[0] == "resolve":
        requirements = Path(argv[1] if len(argv) > 1 else "requirements.txt")
        named = resolved_tags(requirements)
        where = f"{requirements} resolved for the runtime"
    else:
        if len(argv) < 2:
            tail = " [requirements.txt]" if argv[0] == "install" else ""
            print(f"usage: check_wheels.py {argv[0]} DIR{tail}")
            return 2
        if argv[0] == "install":
            install(Path(argv[2] if len(argv) > 2 else "requirements.txt"), Path(argv[1]))
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
