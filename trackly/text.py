"""What the user-visible text fields accept (titles, label names, comment bodies).

A value must show something (at least one character that is neither a control, a format
character such as a zero-width space, nor a separator) and may not carry control characters
(newlines and tabs are allowed where the text is multi-line Markdown) or the bidirectional
embedding/override/isolate controls, which make a name read differently from what it is.
"""

from __future__ import annotations

import unicodedata

_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_MULTILINE = frozenset("\n\r\t")


def visible(value: str, *, what: str, multiline: bool = False) -> str:
    """`value` unchanged, or ValueError with a sentence naming `what` ("The title")."""
    for ch in value:
        if unicodedata.category(ch) == "Cc" and not (multiline and ch in _MULTILINE):
            raise ValueError(f"{what} must not contain control characters (found U+{ord(ch):04X}).")
        if ch in _BIDI_CONTROLS:
            raise ValueError(f"{what} must not contain bidirectional control characters (U+{ord(ch):04X}).")
    if not any(unicodedata.category(ch)[0] not in ("C", "Z") for ch in value):
        raise ValueError(f"{what} must contain at least one visible character.")
    return value
