"""Password hashing with argon2id (argon2-cffi).

Parameters follow the OWASP Password Storage Cheat Sheet's argon2id configuration
(m = 19 MiB, t = 2, p = 1): memory-hard, yet one verification stays around 0.1 s on a small
Functions instance, so sign-in does not queue behind hashing. Stored hashes carry their own
parameters; a hash made with other parameters is upgraded on the next successful sign-in.
"""

from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 8
# Hashing cost grows with input size; cap it so a huge "password" cannot tie up a worker.
MAX_LENGTH = 1024

TIME_COST = 2
MEMORY_COST_KIB = 19 * 1024
PARALLELISM = 1


@lru_cache(maxsize=1)
def hasher() -> PasswordHasher:
    return PasswordHasher(time_cost=TIME_COST, memory_cost=MEMORY_COST_KIB, parallelism=PARALLELISM)


def hash_password(password: str) -> str:
    return hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches. A missing hash still costs one hash, so timing is similar."""
    if password_hash is None:
        hasher().hash(password)
        return False
    try:
        return hasher().verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return hasher().check_needs_rehash(password_hash)


@lru_cache(maxsize=1)
def dummy_hash() -> str:
    """A real hash to verify against when the account does not exist (equal timing)."""
    return hash_password("not-a-real-password-but-costs-the-same")
