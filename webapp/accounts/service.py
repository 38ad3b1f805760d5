"""Users and logins: the rules, in one transaction each, with their audit entries."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from flask import current_app
from sqlalchemy import Connection, Table, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from webapp.accounts import audit, tokens
from webapp.accounts.auth import Role
from webapp.accounts.models import LoginFailure, User
from webapp.extensions import get_manager

users_t = cast(Table, User.__table__)
failures_t = cast(Table, LoginFailure.__table__)

#: The login throttle: this many failures in ``THROTTLE_WINDOW`` lock a user name
#: (or, more, an address) until the oldest of them leaves the window.
MAX_FAILURES_PER_NAME = 5
MAX_FAILURES_PER_ADDRESS = 20
THROTTLE_WINDOW = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 8
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")


class AccountError(ValueError):
    """A change to users that the rules refuse; the message says why."""


@dataclass(frozen=True)
class UserInfo:
    """A user as Flask-Login and the templates see it (never the password hash)."""

    id: int
    name: str
    role: str
    created_at: datetime
    disabled: bool
    login_version: int

    is_authenticated = True
    is_anonymous = False

    @property
    def is_active(self) -> bool:
        """Disabled users cannot log in."""
        return not self.disabled

    def get_id(self) -> str:
        """The id kept in the login cookie: a password reset or disable ends old logins."""
        return f"{self.id}:{self.login_version}"


@dataclass(frozen=True)
class LoginResult:
    """``user`` on success; otherwise ``retry_after`` seconds when throttled."""

    user: UserInfo | None
    retry_after: int = 0


def _info(row: Any) -> UserInfo:
    m = row._mapping
    return UserInfo(
        id=m["id"],
        name=m["name"],
        role=m["role"],
        created_at=m["created_at"],
        disabled=bool(m["disabled"]),
        login_version=m["login_version"],
    )


def _now() -> datetime:
    return get_manager().clock()


def hash_password(password: str) -> str:
    """werkzeug's scrypt; tests use cheap parameters so logins stay fast."""
    method = "scrypt:1024:8:1" if current_app.testing else "scrypt"
    return generate_password_hash(password, method=method)


#: Checked against when the user name is unknown, so timing does not tell.
_DUMMY_HASH = generate_password_hash("not a password", method="scrypt:1024:8:1")


def random_password() -> str:
    """A new random password (16 characters)."""
    return secrets.token_urlsafe(12)


def load_user(login_id: str) -> UserInfo | None:
    """The user behind a login cookie's id, if still enabled and not reset since."""
    user_id, _, version = login_id.partition(":")
    if not (user_id.isdigit() and version.isdigit()):
        return None
    user = get_user(int(user_id))
    if user is None or user.disabled or user.login_version != int(version):
        return None
    return user


def get_user(user_id: int) -> UserInfo | None:
    """One user by id."""
    with get_manager().store.read() as conn:
        row = conn.execute(select(users_t).where(users_t.c.id == user_id)).first()
    return _info(row) if row is not None else None


def get_user_by_name(name: str) -> UserInfo | None:
    """One user by name."""
    with get_manager().store.read() as conn:
        row = conn.execute(select(users_t).where(users_t.c.name == name)).first()
    return _info(row) if row is not None else None


def list_users() -> list[UserInfo]:
    """Every user, by name."""
    with get_manager().store.read() as conn:
        return [_info(r) for r in conn.execute(select(users_t).order_by(users_t.c.name))]


def count_users() -> int:
    """How many users exist."""
    with get_manager().store.read() as conn:
        return int(conn.execute(select(func.count()).select_from(users_t)).scalar_one())


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"A password needs at least {MIN_PASSWORD_LENGTH} characters.")


def create_user(name: str, role: str, password: str, *, actor: str | None = None) -> UserInfo:
    """Add a user; AccountError if the name is taken or invalid."""
    name = name.strip()
    if not NAME_PATTERN.fullmatch(name):
        raise AccountError("A user name is 1-64 letters, digits or _ . @ - characters.")
    try:
        role = Role(role).value
    except ValueError:
        raise AccountError(f"Unknown role {role!r}.") from None
    _check_password(password)
    password_hash = hash_password(password)
    try:
        with get_manager().store.write() as conn:
            row = conn.execute(
                insert(users_t)
                .values(
                    name=name,
                    password_hash=password_hash,
                    role=role,
                    created_at=_now(),
                    disabled=False,
                    login_version=0,
                )
                .returning(*users_t.c)
            ).one()
            audit.record("user.create", detail={"user": name, "role": role}, actor=actor, conn=conn)
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
    actor: str | None,
) -> UserInfo:
    """Apply ``values`` to a user; refuse to leave the app without an enabled admin."""
    with get_manager().store.write() as conn:
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
        audit.record(action, detail={"user": user.name, **detail}, actor=actor, conn=conn)
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
        {"disabled": disabled, "login_version": users_t.c.login_version + 1},
        "user.disable" if disabled else "user.enable",
        {},
        keeps_admin=not disabled,
        actor=actor,
    )


def reset_password(user_id: int, password: str, *, actor: str | None = None) -> UserInfo:
    """Set a new password; the user's other logins end."""
    _check_password(password)
    return _change_user(
        user_id,
        {"password_hash": hash_password(password), "login_version": users_t.c.login_version + 1},
        "user.password",
        {},
        keeps_admin=True,
        actor=actor,
    )


def _retry_after(conn: Connection, key: str, limit: int, now: datetime) -> int:
    """Seconds until ``key`` may try again, 0 if it is under ``limit``."""
    c = failures_t.c
    times = list(
        conn.execute(
            select(c.at)
            .where(c.key == key, c.at > now - THROTTLE_WINDOW)
            .order_by(c.at.desc())
            .limit(limit)
        ).scalars()
    )
    if len(times) < limit:
        return 0
    return max(1, int((times[-1] + THROTTLE_WINDOW - now).total_seconds()) + 1)


def authenticate(name: str, password: str, address: str) -> LoginResult:
    """Check a login against the throttle and the password; audit either way.

    The password is checked outside the write transaction (scrypt is slow on
    purpose; SQLite writers queue), so a burst may overshoot the limit slightly.
    """
    now = _now()
    name_key = f"name:{name.strip().lower()}"[:200]
    limits = {name_key: MAX_FAILURES_PER_NAME, f"ip:{address}"[:200]: MAX_FAILURES_PER_ADDRESS}
    actor = name.strip()[:64] or "?"
    detail: dict[str, Any] = {"address": address}
    with get_manager().store.read() as conn:
        retry_after = max(_retry_after(conn, key, limit, now) for key, limit in limits.items())
        row = conn.execute(select(users_t).where(users_t.c.name == name.strip())).first()
    if retry_after:
        audit.record("login.failed", detail={**detail, "throttled": True}, actor=actor)
        return LoginResult(None, retry_after)
    user = _info(row) if row is not None else None
    stored = row._mapping["password_hash"] if row is not None else _DUMMY_HASH
    ok = check_password_hash(stored, password) and user is not None and not user.disabled
    with get_manager().store.write() as conn:
        if ok and user is not None:
            conn.execute(delete(failures_t).where(failures_t.c.key == name_key))
            audit.record("login", detail=detail, actor=user.name, conn=conn)
            return LoginResult(user)
        conn.execute(delete(failures_t).where(failures_t.c.at <= now - THROTTLE_WINDOW))
        conn.execute(insert(failures_t), [{"key": key, "at": now} for key in limits])
        audit.record("login.failed", detail=detail, actor=actor, conn=conn)
    return LoginResult(None)


def ensure_admin(password: str | None) -> str | None:
    """First run: when no user exists, add ``admin`` with ``password`` (random if
    None) and return the password; None when there are users already."""
    if count_users():
        return None
    password = password or random_password()
    _check_password(password)
    try:
        create_user("admin", Role.ADMIN.value, password, actor="system")
    except AccountError:  # another process made it first
        return None
    return password


# -- API tokens (the API feature's functions, with audit entries) -----------------------


def list_api_tokens() -> list[tokens.TokenInfo]:
    """Every API token, revoked ones too."""
    return tokens.list_tokens(get_manager().store.engine)


def create_api_token(name: str, scope: str) -> tuple[tokens.TokenInfo, str]:
    """Make an API token; returns its info and the token, to show once."""
    try:
        info, token = tokens.create_token(get_manager().store.engine, name, scope, now=_now())
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
        info = tokens.revoke_token(get_manager().store.engine, names[token_id], now=_now())
    except tokens.TokenError as exc:
        raise AccountError(str(exc)) from None
    audit.record("token.revoke", detail={"token": info.name})
    return info
