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


def test_every_endpoint_is_in_the_api_overview() -> None:
    import function_app  # noqa: F401  (registers every endpoint)
    from trackly.http.endpoint import REGISTRY

    overview = (ROOT / "README.md").read_text().split("## API overview", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in overview.splitlines() if line.startswith("| ")]
    for spec in REGISTRY.values():
        path = spec.openapi_path
        found = any(
            spec.method in row.split("|")[1] and (f"`{path}`" in row or _covers(row, path)) for row in rows
        )
        assert found, f"{spec.method} {path} is missing from the README's API overview"


def _covers(row: str, path: str) -> bool:
    """`/issues/stats/count`, `/by-status` style and `[/{link_id}]` optional-suffix rows."""
    cell = row.split("|")[2]
    for raw in cell.replace("`", "").split(","):
        part = raw.strip()
        if part.replace("[", "").replace("]", "") == path or part.split("[")[0] == path:
            return True
        if part.startswith("/") and path.endswith(part) and cell.strip().startswith("`/"):
            base = cell.replace("`", "").split(",")[0].strip()
            if path == base.rsplit("/", 1)[0] + part:
                return True
    return False
