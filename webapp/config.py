"""Settings: defaults here, then ``instance/config.py``, then ``SESSIONBOARD_*``
environment variables. Every setting is documented in the README (a test checks)."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

from webapp.sessions import Config

#: Setting name -> (default, one-line description). The README documents each.
SETTINGS: dict[str, tuple[Any, str]] = {
    "DATABASE_URL": (
        None,
        "SQLAlchemy URL or SQLite path; default: sessionboard.db in the instance folder",
    ),
    "SECRET_KEY": (
        None,
        "signs cookies and CSRF tokens; default: generated once into the instance folder",
    ),
    "SESSION_TIMEOUT": ("30m", "how long a new session may run before it expires"),
    "MESSAGE_RETENTION": (
        "30d",
        "messages (and idle sessions) older than this are purged; 0 disables",
    ),
    "SWEEP_INTERVAL": ("5m", "how often the expiry and retention pass runs"),
    "SLIDING_EXPIRY": (False, "true: every update moves expires_at to last activity + timeout"),
    "SWEEP_BATCH_SIZE": (5000, "rows per statement in a sweep"),
    "SEARCH_TAIL_LIMIT": (
        2000,
        "most texts the search index may lag behind; past it a writer indexes inline",
    ),
    "MAX_BODY_BYTES": (10 * 1024 * 1024, "largest accepted request body (413 above it)"),
    "API_PAGE_LIMIT": (500, "largest `limit` of an API list"),
    "MAX_BATCH_MESSAGES": (1000, "most messages in one POST of messages (413 above it)"),
    "MAX_BATCH_BYTES": (
        4 * 1024 * 1024,
        "largest body of one POST of messages (413 above it); bounds a worker's memory",
    ),
    "WRITE_LOCK_TIMEOUT": (
        "3s",
        "how long a web request waits for the database's write lock before it answers 503",
    ),
    "CLOCK_SKEW": ("5m", "how far ahead of the server's clock a message timestamp may be"),
    "ADMIN_PASSWORD": (
        None,
        "password of the admin created on first run; default: random, printed once",
    ),
    "LOG_LEVEL": ("INFO", "logging level"),
    "TRUSTED_PROXIES": (0, "reverse proxies in front whose X-Forwarded-* headers are trusted"),
    "LOGIN_IDLE_TIMEOUT": ("12h", "a login unused this long ends"),
    "LOGIN_MAX_AGE": ("7d", "a login this old ends, used or not"),
    "QUEUE_ASSIGNMENT_TTL": ("4h", "a queue item assigned and not worked on this long goes back"),
    "SHARE_MAX_AGE": ("30d", "the longest a share link may live (a new one's default: 7 days)"),
    "BASE_URL": (
        "",
        "the site's public address for links in webhooks; default: the one the admin used",
    ),
    "WEBHOOK_TIMEOUT": ("5s", "how long a webhook delivery waits for the receiver's answer"),
    "WEBHOOK_MAX_ATTEMPTS": (8, "attempts per webhook delivery before it is given up"),
    "WEBHOOK_RETRY_BASE": ("30s", "wait before a delivery's first retry; doubled each time"),
    "WEBHOOK_POLL_INTERVAL": ("2s", "how often each worker looks for due webhook deliveries"),
}

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: Any) -> timedelta:
    """``90``, ``"90s"``, ``"30m"``, ``"12h"``, ``"7d"``, ``"1w"`` -> timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", str(value))
    if not match:
        raise ValueError(f"not a duration: {value!r} (use e.g. 90s, 30m, 12h, 7d)")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2) or "s"])


def defaults() -> dict[str, Any]:
    """The default settings as a mapping for ``app.config.from_mapping``."""
    return {name: default for name, (default, _doc) in SETTINGS.items()}


def load_secret_key(instance_path: Path) -> str:
    """The key kept in the instance folder, made on first use (mode 0600)."""
    path = instance_path / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    path.touch(mode=0o600)
    path.write_text(key)
    return key


def domain_config(config: dict[str, Any]) -> Config:
    """The Manager's Config from the app's settings."""
    return Config(
        timeout=parse_duration(config["SESSION_TIMEOUT"]),
        message_retention=parse_duration(config["MESSAGE_RETENTION"]),
        sweep_interval=parse_duration(config["SWEEP_INTERVAL"]),
        sliding_expiry=_as_bool(config["SLIDING_EXPIRY"]),
        sweep_batch_size=int(config["SWEEP_BATCH_SIZE"]),
    )


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)
