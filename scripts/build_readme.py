"""Assemble README.md from the sections in docs/readme/ (run: python scripts/build_readme.py).

Each capability documents itself in its own fragment; this keeps their order in one place.
`tests/foundation/test_readme.py` fails when README.md is out of date.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ROOT / "docs" / "readme"

# Fragments in reading order; any fragment not listed goes before the configuration table.
ORDER = [
    "00-head.md",
    "10-api.md",
    "auth.md",
    "issues.md",
    "collaboration.md",
    "attachments.md",
    "realtime.md",
    "stats.md",
    "sso.md",
    "90-configuration.md",
    "95-testing.md",
    "deploy.md",
    "bench.md",
]

BANNER = "<!-- Generated from docs/readme/*.md by scripts/build_readme.py: edit those files. -->\n\n"


def build() -> str:
    present = {p.name for p in SECTIONS.glob("*.md")}
    extra = sorted(present - set(ORDER))
    names = [n for n in ORDER if n in present]
    cut = names.index("90-configuration.md") if "90-configuration.md" in names else len(names)
    names = names[:cut] + extra + names[cut:]
    parts = [(SECTIONS / n).read_text().strip() + "\n" for n in names]
    return BANNER + "\n".join(parts)


def main() -> int:
    text = build()
    target = ROOT / "README.md"
    if "--check" in sys.argv:
        if not target.exists() or target.read_text() != text:
            print("README.md is out of date: run python scripts/build_readme.py", file=sys.stderr)
            return 1
        return 0
    target.write_text(text)
    print(f"wrote {target.relative_to(ROOT)} from {len(text.splitlines())} lines of sections")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
