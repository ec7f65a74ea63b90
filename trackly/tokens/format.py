"""The personal access token format: `trk_` + 43 random base62 characters + 6 checksum characters.

- The prefix makes a leaked token recognisable to secret scanners (and to people).
- 43 characters drawn uniformly from 62 carry 43 * log2(62) = 256.03 bits of randomness.
- The suffix is the CRC32 of the random part in base62 (as GitHub's tokens do), so a mistyped or
  truncated token is refused without a database lookup. It is not a secret and adds no strength.

Only `hash_token(token)` (SHA-256) is stored. A salted slow hash would add nothing: the token is
256 random bits, so there is no dictionary to slow down, and the lookup must be a single indexed
equality in the per-request statement.
"""

from __future__ import annotations

import hashlib
import secrets
import string
import zlib

PREFIX = "trk_"
ALPHABET = string.digits + string.ascii_letters  # base62
RANDOM_LENGTH = 43
CHECKSUM_LENGTH = 6
LENGTH = len(PREFIX) + RANDOM_LENGTH + CHECKSUM_LENGTH
# What a token list shows: the prefix and the first four random characters.
DISPLAY_LENGTH = len(PREFIX) + 4


def _base62(number: int, width: int) -> str:
    digits = []
    while number:
        number, rest = divmod(number, 62)
        digits.append(ALPHABET[rest])
    return "".join(reversed(digits)).rjust(width, ALPHABET[0])


def checksum(random_part: str) -> str:
    return _base62(zlib.crc32(random_part.encode()), CHECKSUM_LENGTH)


def new_token() -> str:
    random_part = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LENGTH))
    return PREFIX + random_part + checksum(random_part)


def looks_like_token(value: str) -> bool:
    """Whether `value` is meant as a personal access token (it says so with the prefix)."""
    return value.startswith(PREFIX)


def well_formed(token: str) -> bool:
    """Prefix, length, alphabet and checksum all right (no database involved)."""
    if len(token) != LENGTH or not token.startswith(PREFIX):
        return False
    body = token[len(PREFIX) :]
    if any(c not in ALPHABET for c in body):
        return False
    random_part, suffix = body[:RANDOM_LENGTH], body[RANDOM_LENGTH:]
    return secrets.compare_digest(checksum(random_part), suffix)


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def display_prefix(token: str) -> str:
    return token[:DISPLAY_LENGTH]
