"""The token format: prefix, 256 bits of randomness, a checksum that refuses typos unread."""

from __future__ import annotations

import math
from typing import Any

from tests.support.api import Api, assert_problem
from tests.support.statements import app_statements
from trackly.tokens import format as token_format


def test_shape_prefix_length_alphabet_and_entropy() -> None:
    token = token_format.new_token()
    assert token.startswith("trk_")
    assert len(token) == token_format.LENGTH == 4 + 43 + 6
    assert token_format.RANDOM_LENGTH * math.log2(len(token_format.ALPHABET)) >= 256
    assert all(c in token_format.ALPHABET for c in token[4:])
    assert token_format.well_formed(token)
    assert len({token_format.new_token() for _ in range(200)}) == 200


def test_every_single_character_typo_fails_the_checksum() -> None:
    token = token_format.new_token()
    for i in range(4, len(token)):
        for replacement in ("0", "z", "Q"):
            if token[i] == replacement:
                continue
            typo = token[:i] + replacement + token[i + 1 :]
            assert not token_format.well_formed(typo), (i, replacement)
    assert not token_format.well_formed(token[:-1])
    assert not token_format.well_formed(token + "0")
    assert not token_format.well_formed("ghp_" + token[4:])


def test_a_typo_is_refused_without_looking_the_token_up(api: Api, users: Any) -> None:
    token = users.pat(users("REPORTER"))
    typo = token[:10] + ("A" if token[10] != "A" else "B") + token[11:]
    with app_statements() as statements:
        response = api.as_(typo).get("auth/me")
    assert_problem(response, 401)
    assert not any("api_tokens" in s for s in statements), statements
    # The only statement is the rate-limit count of the client address.
    assert len(statements) == 1 and statements[0].startswith("INSERT INTO rate_limit_counters")


def test_only_the_sha256_is_stored(engine: Any, users: Any) -> None:
    import hashlib

    from sqlalchemy import text

    token = users.pat(users("REPORTER"))
    with engine.connect() as conn:
        stored, prefix = conn.execute(text("SELECT token_hash, prefix FROM api_tokens")).one()
    assert bytes(stored) == hashlib.sha256(token.encode()).digest()
    assert prefix == token[:8]
