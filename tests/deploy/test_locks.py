"""The dependency locks: `make check` fails on a lock that no longer matches its input, `make lock`
keeps pins and moves only what it is asked to, and the committed locks are what they claim.

The staleness tests run scripts/locks.py (the script `make lock` and `make lock-check` run) with
uv against a local index of real wheels built here (`--no-index --find-links`), so they need no
network: the same uv resolution, on packages whose versions the test controls.
"""

from __future__ import annotations

import base64
import hashlib
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOCKS = ROOT / "scripts" / "locks.py"


def _wheel(directory: Path, name: str, version: str, requires: tuple[str, ...] = ()) -> None:
    """A minimal valid pure wheel (METADATA, WHEEL, RECORD)."""
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": "",
        f"{dist}/METADATA": "Metadata-Version: 2.1\nName: {}\nVersion: {}\n{}".format(
            name, version, "".join(f"Requires-Dist: {r}\n" for r in requires)
        ),
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, content in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(content.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(content.encode())}")
    files[f"{dist}/RECORD"] = "\n".join([*record, f"{dist}/RECORD,,"]) + "\n"
    with zipfile.ZipFile(directory / f"{name}-{version}-py3-none-any.whl", "w") as archive:
        for path, content in files.items():
            archive.writestr(path, content)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    index = tmp_path / "index"
    index.mkdir()
    _wheel(index, "alpha", "1.0")
    _wheel(index, "alpha", "1.5")
    _wheel(index, "alpha", "2.0")
    _wheel(index, "beta", "1.0", ("alpha>=1",))
    _wheel(index, "gamma", "3.0")
    root = tmp_path / "project"
    root.mkdir()
    (root / "requirements.in").write_text("alpha>=1,<1.2\n")
    (root / "requirements-dev.in").write_text("-r requirements.in\n-c requirements.txt\nbeta>=1\n")
    (root / "requirements-worker.in").write_text("-c requirements.txt\nbeta>=1\n")
    assert _locks(root, "lock").returncode == 0
    # Newer releases appear after the lock was made; a check must not call that stale.
    _wheel(index, "alpha", "1.1")
    return root


def _locks(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    index = root.parent / "index"
    command = [
        sys.executable,
        str(LOCKS),
        *args,
        "--root",
        str(root),
        "--",
        "--no-index",
        "--find-links",
        str(index),
    ]
    env = {"UV_CACHE_DIR": str(root.parent / "uv-cache"), "PATH": "/usr/bin:/bin", "HOME": str(root.parent)}
    return subprocess.run(command, capture_output=True, text=True, env=env, check=False)


def _pins(lock: Path) -> dict[str, str]:
    return dict(re.findall(r"^([a-z0-9-]+)==(\S+)", lock.read_text(), re.M))


def test_fresh_locks_pass_the_check_and_share_versions(project: Path) -> None:
    done = _locks(project, "check")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "locks: 3 passed, 0 failed" in done.stdout
    assert _pins(project / "requirements.txt") == {"alpha": "1.0"}
    assert _pins(project / "requirements-dev.txt") == {"alpha": "1.0", "beta": "1.0"}
    assert "--hash=sha256:" in (project / "requirements.txt").read_text()


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("requirements.in", "alpha>=1,<1.2\ngamma>=3\n"),  # a line added to the input
        ("requirements.in", "alpha>=1.1,<1.2\n"),  # a bound that excludes the pin
        ("requirements-dev.in", "-r requirements.in\n-c requirements.txt\n"),  # a line removed
        ("requirements-worker.in", "-c requirements.txt\nbeta>=1\ngamma\n"),
    ],
)
def test_a_lock_stale_against_its_input_fails_the_check(project: Path, path: str, text: str) -> None:
    (project / path).write_text(text)
    done = _locks(project, "check")
    assert done.returncode == 1, done.stdout
    assert "STALE" in done.stdout and "run `make lock`" in done.stdout


def test_a_hand_edited_or_missing_lock_fails_the_check(project: Path) -> None:
    lock = project / "requirements.txt"
    lock.write_text(lock.read_text() + "gamma>=3\n")  # the old loose format, appended by hand
    assert _locks(project, "check").returncode == 1
    lock.unlink()
    done = _locks(project, "check")
    assert done.returncode == 1 and "STALE requirements.txt" in done.stdout


def test_lock_keeps_pins_and_upgrades_only_what_it_is_told(project: Path) -> None:
    (project / "requirements.in").write_text("alpha>=1,<2\n")
    assert _locks(project, "lock").returncode == 0
    assert _pins(project / "requirements.txt") == {"alpha": "1.0"}  # still fits: kept
    assert _locks(project, "lock", "--upgrade", "alpha").returncode == 0
    assert _pins(project / "requirements.txt") == {"alpha": "1.5"}
    assert _pins(project / "requirements-dev.txt")["alpha"] == "1.5"  # dev follows the runtime lock
    assert _locks(project, "check").returncode == 0


def _entries(lock: Path) -> dict[str, str]:
    """{name: full entry text} of a uv lock."""
    out = {}
    for block in re.split(r"\n(?=[a-z0-9])", lock.read_text()):
        match = re.match(r"([a-z0-9-]+)==", block)
        if match:
            out[match.group(1)] = block
    return out


def test_the_committed_locks_are_pinned_hashed_and_share_versions() -> None:
    runtime = _pins(ROOT / "requirements.txt")
    dev = _pins(ROOT / "requirements-dev.txt")
    worker = _pins(ROOT / "requirements-worker.txt")
    assert runtime and dev and worker
    for name, version in runtime.items():
        assert dev.get(name) == version, f"{name}: dev {dev.get(name)} vs runtime {version}"
    for name in set(worker) & set(runtime):
        assert worker[name] == runtime[name], name
    for lock in ("requirements.txt", "requirements-dev.txt", "requirements-worker.txt"):
        text = (ROOT / lock).read_text()
        assert text.startswith(
            "# This file was autogenerated by uv via the following command:\n#    make lock\n"
        )
        for name, entry in _entries(ROOT / lock).items():
            assert "--hash=sha256:" in entry, f"{lock}: {name} has no hash"
        # Every line is a pin, a hash, or a comment: nothing loose slipped in.
        for line in text.splitlines():
            stripped = line.strip()
            assert (
                not stripped or stripped.startswith(("#", "--hash=")) or re.match(r"^[a-z0-9-]+==", stripped)
            ), f"{lock}: {line!r}"
    assert "uv" in dev  # make lock's tool comes from the dev lock


def test_every_install_path_uses_the_locks() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "pip install --quiet --require-hashes --no-deps -r requirements-dev.txt" in makefile
    assert "--require-hashes --no-deps --ignore-requires-python -r requirements-worker.txt" in makefile
    check = re.search(r"^check: (.*)$", makefile, re.M)
    assert check and "lock-check" in check.group(1).split()
    deploy = (ROOT / ".github" / "workflows" / "deploy.yml").read_text()
    installs = re.findall(r"pip install [^\n]*", deploy)
    assert installs and all("--require-hashes" in line for line in installs), installs
    assert "check_wheels.py install .python_packages/lib/site-packages requirements.txt" in deploy
    ci = (ROOT / ".github" / "workflows" / "ci.yml").read_text()
    assert "make setup" in ci and "lock-check" in ci
