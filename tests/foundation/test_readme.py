"""The README and docs/ stay truthful and navigable: short front page, links that resolve,
every setting documented, every endpoint in the API reference."""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

from trackly.config import Settings

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
# Every Markdown file a reader reaches from the README (bench/README.md is linked from docs/).
PAGES = [README, *sorted(DOCS.rglob("*.md")), ROOT / "bench" / "README.md"]
FRONT_PAGE_LIMIT = 15 * 1024

_md = MarkdownIt("commonmark").enable("table")


def _inline_text(token: Token) -> str:
    return "".join(c.content for c in token.children or [] if c.type in ("text", "code_inline"))


def slug(heading: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower()
    kept = "".join(ch for ch in text if ch in " -_" or unicodedata.category(ch)[0] in "LN")
    return kept.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    tokens = _md.parse(path.read_text())
    seen: dict[str, int] = {}
    found: set[str] = set()
    for i, token in enumerate(tokens):
        if token.type != "heading_open":
            continue
        base = slug(_inline_text(tokens[i + 1]))
        n = seen.get(base, 0)
        seen[base] = n + 1
        found.add(base if n == 0 else f"{base}-{n}")
    # explicit <a id="..."> / <a name="..."> anchors
    found.update(re.findall(r'<a (?:id|name)="([^"]+)"', path.read_text()))
    return found


def links(path: Path) -> list[str]:
    out: list[str] = []
    for token in _md.parse(path.read_text()):
        for child in token.children or []:
            if child.type == "link_open":
                out.append(str(child.attrs["href"]))
    return out


def test_the_link_checker_itself() -> None:
    """The slug rule on headings this repository uses (backticks, colons, parentheses)."""
    assert slug("Replacing the original EventSource") == "replacing-the-original-eventsource"
    assert slug("`DATABASE_AUTH=entra`") == "database_authentra"
    assert slug("Collaboration: comments, assignees, labels, watchers") == (
        "collaboration-comments-assignees-labels-watchers"
    )
    assert slug("Deploy from your machine with `azd up`") == "deploy-from-your-machine-with-azd-up"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    broken = []
    for href in links(page):
        parts = urlsplit(href)
        if parts.scheme or parts.netloc or href.startswith("mailto:"):
            continue  # absolute URLs are not checked (no traffic leaves loopback)
        target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
        if not target.exists():
            broken.append(f"{href}: no file {target.relative_to(ROOT) if ROOT in target.parents else target}")
            continue
        if parts.fragment:
            if target.suffix != ".md":
                broken.append(f"{href}: an anchor into a non-Markdown file")
            elif parts.fragment not in anchors(target):
                broken.append(f"{href}: no heading #{parts.fragment} in {target.relative_to(ROOT)}")
    assert broken == []


def test_every_docs_page_is_reachable_from_the_readme() -> None:
    readme_targets = {(ROOT / urlsplit(h).path).resolve() for h in links(README) if not urlsplit(h).scheme}
    orphans = [
        str(p.relative_to(ROOT)) for p in sorted(DOCS.rglob("*.md")) if p.resolve() not in readme_targets
    ]
    assert orphans == []


def test_the_readme_is_a_front_page() -> None:
    size = len(README.read_bytes())
    assert size <= FRONT_PAGE_LIMIT, f"README.md is {size} bytes; move detail into docs/"


def test_readme_names_the_commands_a_newcomer_needs() -> None:
    readme = README.read_text()
    for command in ("make run", "make test", "make stop", "make clean", "make help"):
        assert command in readme, command


def _documented_text() -> str:
    return "\n".join(p.read_text() for p in PAGES)


def test_every_example_setting_is_documented() -> None:
    example = json.loads((ROOT / "local.settings.example.json").read_text())
    text = _documented_text()
    missing = [name for name in example["Values"] if f"`{name}`" not in text]
    assert missing == []


def test_every_setting_is_in_the_configuration_table() -> None:
    table = (DOCS / "configuration.md").read_text()
    missing = [name for name in Settings.model_fields if f"| `{name}` |" not in table]
    assert missing == []


def test_every_endpoint_is_in_the_api_reference() -> None:
    import function_app  # noqa: F401  (registers every endpoint)
    from trackly.http.endpoint import REGISTRY

    rows = [line for line in (DOCS / "api.md").read_text().splitlines() if line.startswith("| ")]
    for spec in REGISTRY.values():
        path = spec.openapi_path
        found = any(
            spec.method in row.split("|")[1] and (f"`{path}`" in row or _covers(row, path)) for row in rows
        )
        assert found, f"{spec.method} {path} is missing from docs/api.md"


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
