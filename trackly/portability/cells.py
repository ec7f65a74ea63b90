"""CSV cells that are safe to open in a spreadsheet (OWASP "CSV Injection").

A cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return may run as a formula, so on
export it gets a leading single quote (and the csv module quotes every cell). The importer
removes exactly that quote again, so an exported file imports back to the same text.
"""

from __future__ import annotations

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"


def escape(value: str) -> str:
    return QUOTE + value if value.startswith(TRIGGERS) else value


def unescape(value: str) -> str:
    if value.startswith(QUOTE) and value[1:].startswith(TRIGGERS):
        return value[1:]
    return value
