"""Login, logout, and the admin pages: users, API tokens, the audit log."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user
from werkzeug.wrappers import Response

from webapp import params
from webapp.accounts import audit, service
from webapp.accounts.auth import Role, current_role, public, requires, safe_next
from webapp.accounts.tokens import Scope
from webapp.htmx import wants_fragment

bp = Blueprint("accounts", __name__)


def _home() -> str:
    return url_for("dashboard.index")


@bp.route("/login", methods=["GET", "POST"])
@public
def login() -> Response | str | tuple[str, int, dict[str, str]]:
    """The login form; a POST checks the password (throttled after failures)."""
    next_path = safe_next(request.values.get("next"))
    if request.method == "GET":
        if current_role() is not None:
            return redirect(next_path or _home())
        return render_template("accounts/login.html", next=next_path, error=None)
    name = request.form.get("name", "")
    result = service.authenticate(
        name,
        request.form.get("password", ""),
        address=request.remote_addr or "?",
        user_agent=request.user_agent.string,
    )
    if result.user is not None:
        session.clear()
        login_user(result.user)
        return redirect(next_path or _home())
    if result.refusal is not None:
        page = render_template(
            "accounts/login.html", next=next_path, error=result.refusal.message, name=name
        )
        return page, 429, {"Retry-After": str(result.refusal.retry_after)}
    page = render_template(
        "accounts/login.html", next=next_path, error="Wrong name or password.", name=name
    )
    return page, 401, {}


@bp.post("/logout")
@requires(Role.VIEWER)
def logout() -> Response:
    """End this login on the server: its cookie no longer works anywhere."""
    service.end_login(current_user)
    return _forget_login()


@bp.post("/logout/everywhere")
@requires(Role.VIEWER)
def logout_everywhere() -> Response:
    """End every login of the current user, on every browser."""
    service.end_all_logins(current_user.id, actor=current_user.name)
    return _forget_login()


@bp.get("/account/logins")
@requires(Role.VIEWER)
def your_logins() -> str:
    """The current user's live logins: when, from where, with what browser."""
    return render_template("accounts/logins.html", logins=service.live_logins(current_user))


def _forget_login() -> Response:
    logout_user()
    session.clear()
    return redirect(url_for("accounts.login"))


# -- users ---------------------------------------------------------------------------


def _users_page(
    status: int = 200, *, notice: str | None = None, error: str | None = None
) -> tuple[str, int]:
    page = render_template(
        "accounts/users.html",
        users=service.list_users(),
        live_logins=service.live_login_counts(),
        roles=[r.value for r in Role],
        notice=notice,
        error=error,
    )
    return page, status


@bp.get("/admin/users")
@requires(Role.ADMIN)
def users() -> tuple[str, int]:
    """Every user, with forms to add one and change each."""
    return _users_page()


@bp.post("/admin/users")
@requires(Role.ADMIN)
def create_user() -> tuple[str, int]:
    """Add a user; an empty password means a random one, shown once."""
    name = request.form.get("name", "")
    password = request.form.get("password", "") or service.random_password(name)
    try:
        user = service.create_user(name, request.form.get("role", ""), password)
    except service.AccountError as exc:
        return _users_page(400, error=str(exc))
    shown = "" if request.form.get("password") else f" Password (shown once): {password}"
    return _users_page(201, notice=f"Added {user.role} {user.name}.{shown}")


def _user_change(change: Any, success: str) -> tuple[str, int]:
    try:
        user = change()
    except service.AccountError as exc:
        status = 400 if isinstance(exc, service.PasswordRefused) else 409
        return _users_page(status, error=str(exc))
    return _users_page(notice=success.format(user=user))


@bp.post("/admin/users/<int:user_id>/role")
@requires(Role.ADMIN)
def change_role(user_id: int) -> tuple[str, int]:
    """Give a user another role."""
    role = request.form.get("role", "")
    return _user_change(lambda: service.set_role(user_id, role), "{user.name} is now {user.role}.")


@bp.post("/admin/users/<int:user_id>/disabled")
@requires(Role.ADMIN)
def change_disabled(user_id: int) -> tuple[str, int]:
    """Disable a user (``disabled=1``) or enable them again (``disabled=0``)."""
    disabled = request.form.get("disabled") == "1"
    word = "disabled" if disabled else "enabled"
    return _user_change(lambda: service.set_disabled(user_id, disabled), f"{{user.name}} {word}.")


@bp.post("/admin/users/<int:user_id>/password")
@requires(Role.ADMIN)
def change_password(user_id: int) -> tuple[str, int]:
    """Set a new password; an empty one means a random one, shown once."""
    password = request.form.get("password", "") or service.random_password(_user_name(user_id))
    shown = "" if request.form.get("password") else f" New password (shown once): {password}"
    return _user_change(
        lambda: service.reset_password(user_id, password),
        f"Password of {{user.name}} reset.{shown}",
    )


def _user_name(user_id: int) -> str:
    user = service.get_user(user_id)
    return user.name if user is not None else ""


@bp.post("/admin/users/<int:user_id>/logins/end")
@requires(Role.ADMIN)
def end_logins(user_id: int) -> tuple[str, int]:
    """End every login of a user."""
    return _user_change(
        lambda: service.end_all_logins(user_id), "Ended every login of {user.name}."
    )


# -- audit log -----------------------------------------------------------------------


def _parse_day(value: date | None) -> datetime | None:
    return datetime.combine(value, time(), UTC) if value else None


@bp.get("/admin/audit")
@requires(Role.ADMIN)
def audit_log() -> str:
    """The audit log, newest first, filtered and keyset paged (``before``)."""
    args = request.args
    until = _parse_day(params.day(args, "until"))
    where = audit.AuditFilter(
        actor=params.text(args, "actor"),
        action=params.text(args, "action"),
        session_id=params.text(args, "session"),
        since=_parse_day(params.day(args, "since")),
        until=until + timedelta(days=1) if until else None,
    )
    before = params.integer(args, "before")
    entries, next_before = audit.entries(where, before=before)
    next_url = None
    if next_before is not None:
        next_args: dict[str, Any] = {k: v for k, v in args.items() if k != "before" and v}
        next_url = url_for("accounts.audit_log", **next_args, before=next_before)
    template = (
        "accounts/_audit_rows.html" if wants_fragment() else "accounts/audit.html"
    )
    return render_template(
        template, entries=entries, next_url=next_url, args=args, actions=audit.actions()
    )


# -- API tokens ------------------------------------------------------------------------


def _tokens_page(
    status: int = 200,
    *,
    notice: str | None = None,
    error: str | None = None,
    new_token: str | None = None,
) -> tuple[str, int]:
    page = render_template(
        "accounts/tokens.html",
        tokens=service.list_api_tokens(),
        scopes=[s.value for s in Scope],
        notice=notice,
        error=error,
        new_token=new_token,
    )
    return page, status


@bp.get("/admin/tokens")
@requires(Role.ADMIN)
def tokens() -> tuple[str, int]:
    """The API tokens, with forms to make and revoke them."""
    return _tokens_page()


@bp.post("/admin/tokens")
@requires(Role.ADMIN)
def create_token() -> tuple[str, int]:
    """Make an API token and show it once."""
    try:
        info, token = service.create_api_token(
            request.form.get("name", ""), request.form.get("scope", "")
        )
    except service.AccountError as exc:
        return _tokens_page(400, error=str(exc))
    return _tokens_page(201, notice=f"Made token {info.name}.", new_token=token)


@bp.post("/admin/tokens/<int:token_id>/revoke")
@requires(Role.ADMIN)
def revoke_token(token_id: int) -> tuple[str, int]:
    """Revoke an API token at once."""
    try:
        info = service.revoke_api_token(token_id)
    except service.AccountError as exc:
        return _tokens_page(409, error=str(exc))
    return _tokens_page(notice=f"Revoked token {info.name}.")
