"""Passwords: how they are hashed and checked, and which ones are refused.

The strength rule uses zxcvbn (Dropbox's estimator, with its lists of common
passwords, names and words): a password must score at least ``MIN_SCORE`` with the
user's name counted as a known word, so ``12345678``, ``password1``, eight spaces
or the name with digits appended are refused.
"""

from __future__ import annotations

import functools

from flask import current_app
from werkzeug.security import check_password_hash, generate_password_hash
from zxcvbn import zxcvbn

MIN_LENGTH = 8
MAX_LENGTH = 1024
#: zxcvbn's score 0-4; 3 is "safely unguessable: moderate protection from an
#: offline slow-hash attack".
MIN_SCORE = 3
#: zxcvbn refuses to score longer input; the rest of a long password only adds strength.
SCORED_LENGTH = 72

#: werkzeug's scrypt (N=32768, r=8, p=1), spelled out so the dummy hash matches it.
HASH_METHOD = "scrypt:32768:8:1"
#: Tests hash with a cheap N so that logins stay fast.
TESTING_HASH_METHOD = "scrypt:1024:8:1"


def hash_method() -> str:
    """The method new password hashes use: ``HASH_METHOD``, cheaper when testing."""
    return TESTING_HASH_METHOD if current_app.testing else HASH_METHOD


def hash_password(password: str) -> str:
    """A salted hash of ``password`` with ``hash_method()``."""
    return generate_password_hash(password, method=hash_method())


@functools.cache
def _dummy_hash(method: str) -> str:
    return generate_password_hash("not a password", method=method)


def dummy_hash() -> str:
    """A hash made exactly like real ones, checked when the user name is unknown,
    so that the time a login takes does not tell which names exist."""
    return _dummy_hash(hash_method())


def hash_parameters(password_hash: str) -> str:
    """The method and parameters of a werkzeug hash (``scrypt:32768:8:1``)."""
    return password_hash.partition("$")[0]


def password_matches(password_hash: str, password: str) -> bool:
    """Whether ``password`` is the one behind ``password_hash``; a password that
    is not valid text (a lone surrogate) never matches."""
    try:
        password.encode()
    except UnicodeEncodeError:
        return False
    return check_password_hash(password_hash, password)


def _contains_name(password: str, name: str) -> bool:
    # Short names (``a``, ``jo``) only count when they are the whole password.
    folded, name = password.casefold(), name.strip().casefold()
    return bool(name) and (folded == name or (len(name) >= 3 and name in folded))


def password_problem(password: str, name: str) -> str | None:
    """Why ``password`` is refused for the user ``name``, or None if it is fine."""
    if len(password) < MIN_LENGTH:
        return f"A password needs at least {MIN_LENGTH} characters."
    if len(password) > MAX_LENGTH:
        return f"A password has at most {MAX_LENGTH} characters."
    if any(ch < " " or ch == "\x7f" or "\ud800" <= ch <= "\udfff" for ch in password):
        return "A password cannot contain control characters."
    if not password.strip():
        return "A password cannot be only spaces."
    if _contains_name(password, name):
        return "A password cannot contain the user name."
    result = zxcvbn(password[:SCORED_LENGTH], user_inputs=[name] if name else [])
    if result["score"] < MIN_SCORE:
        warning = result["feedback"]["warning"]
        reason = f" ({warning.rstrip('.')})" if warning else ""
        return (
            f"This password is too easy to guess{reason}. Use a longer one, "
            "e.g. a few unrelated words."
        )
    return None
