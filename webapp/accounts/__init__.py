"""The accounts feature: users, login, roles, the login gate, CSRF errors, audit log."""

from __future__ import annotations

import logging
import sys
from typing import Any
from urllib.parse import urlsplit

import click
from flask import Flask, Response, current_app, redirect, render_template, request, url_for
from flask.cli import with_appcontext
from flask.sessions import SecureCookieSessionInterface
from flask_login import LoginManager
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import Forbidden

from webapp.accounts.auth import ACCESS_ATTRIBUTE, Role, can, current_role, safe_next
from webapp.config import parse_duration
from webapp.htmx import is_htmx, vary
from webapp.security import API_PREFIX

log = logging.getLogger(__name__)

#: Endpoints that need no login besides views marked ``public``.
PUBLIC_ENDPOINTS = {"static", "health.healthz"}
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


class HttpsAwareSessionInterface(SecureCookieSessionInterface):
    """The session cookie is Secure when the setting says so or the request came
    over https (``request.is_secure`` honours ProxyFix's X-Forwarded-Proto)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config.get("SESSION_COOKIE_SECURE")) or request.is_secure


def _unauthorized() -> Any:
    """No login: a page redirects to /login; htmx gets 401 and HX-Redirect."""
    if is_htmx():
        current = urlsplit(request.headers.get("HX-Current-URL", ""))
        next_path = safe_next(current.path + (f"?{current.query}" if current.query else ""))
        login_url = url_for("accounts.login", next=next_path)
        response = Response(render_template("accounts/_login_needed.html", login_url=login_url))
        response.status_code = 401
        response.headers["HX-Redirect"] = login_url
        return response
    next_path = request.full_path.rstrip("?") if request.method == "GET" else None
    return redirect(url_for("accounts.login", next=next_path))


def _gate() -> Any:
    """Every route needs a login unless public or under /api/ (token auth);
    a viewer cannot change anything through a view that declared no role."""
    endpoint = request.endpoint
    if endpoint is None or endpoint in PUBLIC_ENDPOINTS or request.path.startswith(API_PREFIX):
        return None
    access = getattr(current_app.view_functions.get(endpoint), ACCESS_ATTRIBUTE, None)
    if access == "public":
        return None
    role = current_role()
    if role is None:
        return _unauthorized()
    if access is None and request.method not in SAFE_METHODS and role is Role.VIEWER:
        raise Forbidden("Viewers cannot change anything.")
    return None


def _csrf_error(error: CSRFError) -> Response:
    """A missing or expired CSRF token: say so plainly (400)."""
    log.info("CSRF refused on %s %s: %s", request.method, request.path, error.description)
    template = "accounts/_csrf_error.html" if is_htmx() else "accounts/csrf_error.html"
    response = Response(render_template(template, reason=error.description), 400)
    vary(response)
    return response


def ensure_first_admin(app: Flask) -> None:
    """Before serving: with no user at all, create ``admin`` and print its password once."""
    from webapp.accounts.service import ensure_admin

    with app.app_context():
        given = app.config.get("ADMIN_PASSWORD") or None
        password = ensure_admin(given)
    if password is None:
        return
    shown = "(from SESSIONBOARD_ADMIN_PASSWORD)" if given else password
    click.echo(f"First run: created user 'admin' with password {shown}", err=True)
    click.echo("Log in and change it under Users; it is not shown again.", err=True)


@click.command("create-user")
@click.argument("name")
@click.option(
    "--role",
    type=click.Choice([r.value for r in Role]),
    default=Role.VIEWER.value,
    show_default=True,
    help="What the user may do.",
)
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin's first line.")
@with_appcontext
def create_user_command(name: str, role: str, password_stdin: bool) -> None:
    """Add a user; without --password-stdin a random password is printed once."""
    from webapp.accounts.service import AccountError, create_user, random_password

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = random_password(name)
    try:
        user = create_user(name, role, password, actor="cli")
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"created {user.role} {user.name!r}", err=True)
    if not password_stdin:
        click.echo(f"password: {password}")


def init_app(app: Flask) -> None:
    """Flask-Login, the login gate, secure cookies, CSRF errors, the blueprint,
    ``create-user`` and the first-run admin."""
    from webapp.accounts.service import load_user
    from webapp.accounts.views import bp

    for setting in ("LOGIN_IDLE_TIMEOUT", "LOGIN_MAX_AGE"):
        parse_duration(app.config[setting])  # a bad value stops the start, not each request
    login_manager = LoginManager()
    login_manager.login_view = "accounts.login"
    login_manager.session_protection = "basic"
    login_manager.user_loader(load_user)
    login_manager.unauthorized_handler(_unauthorized)
    login_manager.init_app(app)

    app.session_interface = HttpsAwareSessionInterface()
    # Flask's defaults hold these keys already (SameSite None), so setdefault is no use.
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = app.config.get("SESSION_COOKIE_SAMESITE") or "Lax"
    app.jinja_env.globals["can"] = can
    app.before_request(_gate)
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_blueprint(bp)
    app.cli.add_command(create_user_command)
    app.extensions.setdefault("sessionboard.before_serve", []).append(ensure_first_admin)
