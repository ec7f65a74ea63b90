"""The README stays truthful about configuration: every setting is documented."""

from pathlib import Path

from trackly.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_every_setting_is_in_the_configuration_table() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Configuration", 1)[1]
    missing = [name for name in Settings.model_fields if f"| `{name}` |" not in table]
    assert missing == []


def test_readme_names_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme
    assert "make test" in readme


def test_readme_is_assembled_from_its_sections() -> None:
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "scripts/build_readme.py", "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
