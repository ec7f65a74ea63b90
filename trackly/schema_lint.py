"""Flags migrations that would lock a busy table for long, or break the code still running.

The rule (docs/operations.md, "Schema changes: expand, then contract"): a migration runs while the
previous release still serves requests, so it may only *expand* the schema (new tables, nullable
columns, columns with constant defaults, indexes built CONCURRENTLY, constraints added NOT VALID
and validated separately); anything the old code still uses is dropped or renamed in a later
release (*contract*), once no running code reads it.

    python -m trackly.schema_lint               # every file in migrations/versions (make check)
    python -m trackly.schema_lint path/to/0014_x.py

Operations on tables created by the same migration are never flagged (nobody can be using them).
A reviewed exception is marked on the flagged line or in the comment lines right above it:

    # lock-reviewed: users has a few hundred rows; the index builds in milliseconds
    op.create_index("ix_users_x", "users", ["x"])
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path

VERSIONS = Path(__file__).resolve().parents[1] / "migrations" / "versions"
MARK = re.compile(r"#\s*lock-reviewed:\s*\S")

# Functions PostgreSQL evaluates per row: a default that calls one rewrites the whole table.
VOLATILE = re.compile(
    r"\b(random|gen_random_uuid|uuid_generate_v[14]|clock_timestamp|timeofday|nextval)\s*\(", re.I
)
# Raw SQL that takes a long ACCESS EXCLUSIVE / SHARE lock or rewrites rows in the migration's transaction.
RAW_SQL_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"\bCREATE\s+(UNIQUE\s+)?INDEX\s+(?!CONCURRENTLY)", re.I),
        "CREATE INDEX without CONCURRENTLY",
    ),
    (
        re.compile(r"\bALTER\s+COLUMN\s+\S+\s+(SET\s+DATA\s+)?TYPE\b", re.I),
        "column type change (table rewrite)",
    ),
    (re.compile(r"\bSET\s+NOT\s+NULL\b", re.I), "SET NOT NULL scans the table under an exclusive lock"),
    (
        re.compile(r"\bADD\s+(CONSTRAINT\s+\S+\s+)?(FOREIGN\s+KEY|CHECK)\b(?![^;]*NOT\s+VALID)", re.I),
        "constraint added without NOT VALID (validates every row under lock)",
    ),
    (re.compile(r"^\s*(UPDATE|DELETE\s+FROM)\b", re.I | re.M), "backfill in the migration's transaction"),
    (re.compile(r"\b(DROP|RENAME)\s+(COLUMN|TABLE)\b|\bRENAME\s+TO\b", re.I), "drop/rename (contract step)"),
    (re.compile(r"\bVACUUM\s+FULL\b|\bCLUSTER\b", re.I), "VACUUM FULL / CLUSTER rewrite the table"),
)


@dataclass(frozen=True)
class Finding:
    path: Path
    line: int
    rule: str

    def __str__(self) -> str:
        return f"{self.path.name}:{self.line}: {self.rule} (mark it `# lock-reviewed: <why>` if it is safe)"


def _name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "op":
        return node.attr
    return None


def _kw(call: ast.Call, name: str) -> ast.AST | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _const(node: ast.AST | None) -> object:
    return node.value if isinstance(node, ast.Constant) else None


def _arg(call: ast.Call, index: int, keyword: str) -> ast.AST | None:
    return call.args[index] if len(call.args) > index else _kw(call, keyword)


def _source(node: ast.AST | None) -> str:
    return ast.unparse(node) if node is not None else ""


def _column_rules(column: ast.AST) -> list[str]:
    """An `sa.Column(...)` added to an existing table."""
    if not isinstance(column, ast.Call):
        return []
    rules = []
    default = _kw(column, "server_default")
    if default is not None and VOLATILE.search(_source(default)):
        rules.append("add_column with a volatile default (rewrites every row under lock)")
    if _const(_kw(column, "nullable")) is False and default is None:
        rules.append("add_column NOT NULL without a default (fails on a non-empty table)")
    return rules


def _upgrade(tree: ast.Module) -> ast.FunctionDef | None:
    return next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "upgrade"), None)


def check_source(text: str, path: Path) -> list[Finding]:
    tree = ast.parse(text)
    upgrade = _upgrade(tree)
    if upgrade is None:
        return []
    calls = [n for n in ast.walk(upgrade) if isinstance(n, ast.Call) and _name(n.func)]
    created = {_const(_arg(c, 0, "table_name")) for c in calls if _name(c.func) == "create_table"}
    found: list[tuple[int, str]] = []
    for call in calls:
        op = _name(call.func)
        table = _const(_arg(call, 0, "table_name"))
        if op == "execute":
            sql = _const(_arg(call, 0, "sqltext"))
            for pattern, rule in RAW_SQL_RULES:
                if isinstance(sql, str) and pattern.search(sql):
                    found.append((call.lineno, rule))
            continue
        if op == "create_index":
            table = _const(_arg(call, 1, "table_name"))
            if table not in created and _const(_kw(call, "postgresql_concurrently")) is not True:
                found.append(
                    (call.lineno, f"create_index on existing table {table!r} without postgresql_concurrently")
                )
            continue
        if table in created:
            continue
        if op == "add_column":
            found.extend(
                (call.lineno, rule) for rule in _column_rules(_arg(call, 1, "column") or ast.Constant(None))
            )
        elif op == "alter_column":
            if _kw(call, "type_") is not None:
                found.append((call.lineno, f"alter_column type change on {table!r} (table rewrite)"))
            if _const(_kw(call, "nullable")) is False:
                found.append(
                    (call.lineno, f"alter_column nullable=False on {table!r} (full scan under lock)")
                )
            if _kw(call, "new_column_name") is not None:
                found.append(
                    (call.lineno, f"column rename on {table!r} breaks the running release (contract step)")
                )
        elif op in ("create_foreign_key", "create_check_constraint"):
            if _const(_kw(call, "postgresql_not_valid")) is not True:
                found.append(
                    (call.lineno, f"{op} without postgresql_not_valid (validates every row under lock)")
                )
        elif op in ("create_unique_constraint", "create_primary_key"):
            found.append(
                (
                    call.lineno,
                    f"{op} on existing table builds its index under lock (use an index CONCURRENTLY)",
                )
            )
        elif op in ("drop_column", "drop_table", "rename_table"):
            found.append((call.lineno, f"{op} is a contract step: only once no running release uses it"))
    lines = text.splitlines()
    return [Finding(path, line, rule) for line, rule in found if not _reviewed(lines, line)]


def _reviewed(lines: list[str], line: int) -> bool:
    """A mark on the statement's first line or in the comment lines directly above it."""
    if MARK.search(lines[line - 1]):
        return True
    index = line - 2
    while index >= 0 and lines[index].strip().startswith("#"):
        if MARK.search(lines[index]):
            return True
        index -= 1
    return False


def check(paths: list[Path]) -> list[Finding]:
    findings: list[Finding] = []
    for path in paths:
        findings.extend(check_source(path.read_text(encoding="utf-8"), path))
    return findings


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    paths = [Path(a) for a in args] or sorted(VERSIONS.glob("*.py"))
    findings = check(paths)
    for finding in findings:
        print(f"  FAIL {finding}")
    print(f"migration lock check: {len(paths)} files, {len(findings)} findings")
    return 1 if findings else 0


if __name__ == "__main__":
    raise SystemExit(main())
