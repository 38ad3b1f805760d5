"""Users and logins: the rules, in one transaction each, with their audit entries."""

from __future__ import annotations

import dataclasses
import functools
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from flask import current_app
from sqlalchemy import Connection, Table, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from webapp.accounts import audit, logins, passwords, throttle, tokens
from webapp.accounts.auth import Role
from webapp.accounts.models import User
from webapp.config import parse_duration
from webapp.extensions import get_database, get_manager

users_t = cast(Table, User.__table__)

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")


class AccountError(ValueError):
    """A change to users that the rules refuse; the message says why."""


class PasswordRefused(AccountError):
    """A password the rules refuse (too short, common, like the name...)."""


@dataclass(frozen=True)
class UserInfo:
    """A user as Flask-Login and the templates see it (never the password hash)."""

    id: int
    name: str
    role: str
    created_at: datetime
    disabled: bool
    #: The secret of the login this user came with (the session cookie's), if any.
    login_secret: str = dataclasses.field(default="", repr=False, compare=False)

    is_authenticated = True
    is_anonymous = False

    @property
    def is_active(self) -> bool:
        """Disabled users cannot log in."""
        return not self.disabled

    def get_id(self) -> str:
        """What the session cookie keeps: the login's secret, resolved on the server."""
        if not self.login_secret:
            raise AccountError("This user has no login.")
        return self.login_secret


@dataclass(frozen=True)
class LoginResult:
    """``user`` (with its new login) on success; ``refusal`` when throttled."""

    user: UserInfo | None
    refusal: throttle.Refusal | None = None


def _info(row: Any) -> UserInfo:
    m = row._mapping
    return UserInfo(
        id=m["id"],
        name=m["name"],
        role=m["role"],
        created_at=m["created_at"],
        disabled=bool(m["disabled"]),
    )


def _now() -> datetime:
    return get_manager().clock()


def login_lifetime() -> logins.Lifetime:
    """How long logins last, from the settings LOGIN_IDLE_TIMEOUT and LOGIN_MAX_AGE."""
    config = current_app.config
    return _lifetime(config["LOGIN_IDLE_TIMEOUT"], config["LOGIN_MAX_AGE"])


@functools.lru_cache(maxsize=16)
def _lifetime(idle: Any, max_age: Any) -> logins.Lifetime:
    """Each request asks (the user loader): parsed once per pair of settings."""
    return logins.Lifetime(idle=parse_duration(idle), max_age=parse_duration(max_age))


def random_password(name: str = "") -> str:
    """A new random password (20 characters) that the rules accept for ``name``."""
    while True:
        password = secrets.token_urlsafe(15)
        if passwords.password_problem(password, name) is None:
            return password


def load_user(login_secret: str) -> UserInfo | None:
    """Flask-Login's user loader: the enabled user of the live login behind the
    cookie's secret, or None (the browser then gets the login page)."""
    now = _now()
    store = get_database()
    params = logins.live_login_params(login_secret, now, login_lifetime())
    with store.read() as conn:
        row = conn.execute(_LIVE_LOGIN_USER, params).first()
    if row is None or row.disabled:
        return None
    login = logins.LiveLogin(row.login_id, row.id, row.last_seen_at)
    if login.stale(now):
        with store.write() as conn:
            logins.touch(conn, login.id, now)
    return dataclasses.replace(_info(row), login_secret=login_secret)


#: The statement of :func:`load_user`, built once.
_LIVE_LOGIN_USER = logins.live_login_user(users_t)


def start_login(user: UserInfo, *, address: str, user_agent: str) -> UserInfo:
    """A new login of ``user`` without a password (tests, tools); ``authenticate``
    starts the logins of the login form."""
    with get_database().write() as conn:
        secret = logins.start(conn, user.id, _now(), address=address, user_agent=user_agent)
    return dataclasses.replace(user, login_secret=secret)


def end_login(user: UserInfo) -> None:
    """Log out: end the login ``user`` came with."""
    with get_database().write() as conn:
        logins.end(conn, user.login_secret, _now())
        audit.record("logout", actor=user.name)


def end_all_logins(user_id: int, *, actor: str | None = None) -> UserInfo:
    """End every login of a user ("log out everywhere", or an admin's doing)."""
    with get_database().write() as conn:
        user = _locked_user(conn, user_id)
        ended = logins.end_all(conn, user_id, _now())
        audit.record("user.logins_end", detail={"user": user.name, "ended": ended}, actor=actor)
    return user


def live_logins(user: UserInfo) -> list[logins.LoginInfo]:
    """The live logins of ``user`` ("your logins"), marking the one it came with."""
    with get_database().read() as conn:
        return logins.list_live(conn, user.id, user.login_secret, _now(), login_lifetime())


def live_login_counts() -> dict[int, int]:
    """User id -> how many live logins they have."""
    with get_database().read() as conn:
        return logins.count_live(conn, _now(), login_lifetime())


def get_user(user_id: int) -> UserInfo | None:
    """One user by id."""
    with get_database().read() as conn:
        row = conn.execute(select(users_t).where(users_t.c.id == user_id)).first()
    return _info(row) if row is not None else None


def get_user_by_name(name: str) -> UserInfo | None:
    """One user by name."""
    with get_database().read() as conn:
        row = conn.execute(select(users_t).where(users_t.c.name == name)).first()
    return _info(row) if row is not None else None


def list_users() -> list[UserInfo]:
    """Every user, by name."""
    with get_database().read() as conn:
        return [_info(r) for r in conn.execute(select(users_t).order_by(users_t.c.name))]


def count_users() -> int:
    """How many users exist."""
    with get_database().read() as conn:
        return int(conn.execute(select(func.count()).select_from(users_t)).scalar_one())


def _check_password(password: str, name: str) -> None:
    problem = passwords.password_problem(password, name)
    if problem is not None:
        raise PasswordRefused(problem)


def create_user(name: str, role: str, password: str, *, actor: str | None = None) -> UserInfo:
    """Add a user; AccountError if the name is taken or invalid."""
    name = name.strip()
    if not NAME_PATTERN.fullmatch(name):
        raise AccountError("A user name is 1-64 letters, digits or _ . @ - characters.")
    try:
        role = Role(role).value
    except ValueError:
        raise AccountError(f"Unknown role {role!r}.") from None
    _check_password(password, name)
    password_hash = passwords.hash_password(password)
    try:
        with get_database().write() as conn:
            row = conn.execute(
                insert(users_t)
                .values(
                    name=name,
                    password_hash=password_hash,
                    role=role,
                    created_at=_now(),
                    disabled=False,
                )
                .returning(*users_t.c)
            ).one()
            audit.record("user.create", detail={"user": name, "role": role}, actor=actor)
    except IntegrityError:
        raise AccountError(f"A user named {name!r} exists already.") from None
    return _info(row)


def _locked_user(conn: Connection, user_id: int) -> UserInfo:
    query = select(users_t).where(users_t.c.id == user_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        raise AccountError("No such user.")
    return _info(row)


def _other_enabled_admins(conn: Connection, user_id: int) -> int:
    c = users_t.c
    query = (
        select(func.count())
        .select_from(users_t)
        .where(c.role == Role.ADMIN.value, c.disabled.is_(False), c.id != user_id)
    )
    return int(conn.execute(query).scalar_one())


def _change_user(
    user_id: int,
    values: dict[str, Any],
    action: str,
    detail: dict[str, Any],
    *,
    keeps_admin: bool,
    ends_logins: bool = False,
    actor: str | None,
) -> UserInfo:
    """Apply ``values`` to a user (ending their logins if ``ends_logins``); refuse to
    leave the app without an enabled admin."""
    with get_database().write() as conn:
        user = _locked_user(conn, user_id)
        if (
            user.role == Role.ADMIN.value
            and not user.disabled
            and not keeps_admin
            and _other_enabled_admins(conn, user_id) == 0
        ):
            raise AccountError("This is the last enabled admin; make another admin first.")
        row = conn.execute(
            update(users_t).where(users_t.c.id == user_id).values(values).returning(*users_t.c)
        ).one()
        if ends_logins:
            logins.end_all(conn, user_id, _now())
        audit.record(action, detail={"user": user.name, **detail}, actor=actor)
    return _info(row)


def set_role(user_id: int, role: str, *, actor: str | None = None) -> UserInfo:
    """Give a user another role."""
    try:
        new = Role(role)
    except ValueError:
        raise AccountError(f"Unknown role {role!r}.") from None
    return _change_user(
        user_id,
        {"role": new.value},
        "user.role",
        {"role": new.value},
        keeps_admin=new is Role.ADMIN,
        actor=actor,
    )


def set_disabled(user_id: int, disabled: bool, *, actor: str | None = None) -> UserInfo:
    """Disable a user (their logins end) or enable them again."""
    return _change_user(
        user_id,
        {"disabled": disabled},
        "user.disable" if disabled else "user.enable",
        {},
        keeps_admin=not disabled,
        ends_logins=disabled,
        actor=actor,
    )


def reset_password(user_id: int, password: str, *, actor: str | None = None) -> UserInfo:
    """Set a new password; the user's logins end."""
    user = get_user(user_id)
    if user is None:
        raise AccountError("No such user.")
    _check_password(password, user.name)
    return _change_user(
        user_id,
        {"password_hash": passwords.hash_password(password)},
        "user.password",
        {},
        keeps_admin=True,
        ends_logins=True,
        actor=actor,
    )


def authenticate(name: str, password: str, *, address: str, user_agent: str) -> LoginResult:
    """Check a login against the throttle and the password, and start the login on
    success; audited either way.

    The attempt is counted before the password is checked (see ``throttle``), and
    an unknown name is checked against a hash made like the real ones, so neither
    a burst nor the time taken tells more than a single try.
    """
    now = _now()
    name = name.strip()
    valid_name = NAME_PATTERN.fullmatch(name) is not None
    actor = name if valid_name else "?"
    detail: dict[str, Any] = {"address": address}
    keys = throttle.attempt_keys(name, address)
    store = get_database()
    with store.write() as conn:
        throttle.forget_expired(conn, now)
    with store.write() as conn:
        refusal = throttle.count_attempt(conn, keys, now)
        row = None
        if valid_name and refusal is None:
            row = conn.execute(select(users_t).where(users_t.c.name == name)).first()
    if refusal is not None:
        audit.record("login.failed", detail={**detail, "throttled": refusal.kind}, actor=actor)
        return LoginResult(None, refusal)
    stored = row._mapping["password_hash"] if row is not None else passwords.dummy_hash()
    matches = passwords.password_matches(stored, password)
    if not matches or row is None or row._mapping["disabled"]:
        audit.record("login.failed", detail=detail, actor=actor)
        return LoginResult(None)
    user = _info(row)
    with store.write() as conn:
        throttle.forgive(conn, keys)
        secret = logins.start(conn, user.id, now, address=address, user_agent=user_agent)
        audit.record("login", detail=detail, actor=user.name)
    return LoginResult(dataclasses.replace(user, login_secret=secret))


def ensure_admin(password: str | None) -> str | None:
    """First run: when no user exists, add ``admin`` with ``password`` (random if
    None) and return the password; None when there are users already."""
    if count_users():
        return None
    password = password or random_password("admin")
    _check_password(password, "admin")
    try:
        create_user("admin", Role.ADMIN.value, password, actor="system")
    except AccountError:  # another process made it first
        return None
    return password


# -- API tokens (the API feature's functions, with audit entries) -----------------------


def list_api_tokens() -> list[tokens.TokenInfo]:
    """Every API token, revoked ones too."""
    return tokens.list_tokens(get_database().engine)


def create_api_token(name: str, scope: str) -> tuple[tokens.TokenInfo, str]:
    """Make an API token; returns its info and the token, to show once."""
    try:
        info, token = tokens.create_token(get_database().engine, name, scope, now=_now())
    except tokens.TokenError as exc:
        raise AccountError(str(exc)) from None
    audit.record("token.create", detail={"token": info.name, "scope": info.scope.value})
    return info, token


def revoke_api_token(token_id: int) -> tokens.TokenInfo:
    """Revoke a live API token by id."""
    names = {t.id: t.name for t in list_api_tokens() if t.revoked_at is None}
    if token_id not in names:
        raise AccountError("No such live token.")
    try:
        info = tokens.revoke_token(get_database().engine, names[token_id], now=_now())
    except tokens.TokenError as exc:
        raise AccountError(str(exc)) from None
    audit.record("token.revoke", detail={"token": info.name})
    return info
