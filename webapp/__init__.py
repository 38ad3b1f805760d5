"""Sessionboard: keep, watch and review the sessions of AI coding agents."""

from __future__ import annotations

import gc
import logging.config
import os
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from flask import Flask, g
from sqlalchemy.engine import make_url
from werkzeug.middleware.proxy_fix import ProxyFix

from webapp import config as settings
from webapp.extensions import csrf, db
from webapp.sessions import Manager, MessageStore
from webapp.sessions.engine import Database, database_url, engine_options
from webapp.sessions.pricing import PriceTable
from webapp.sessions.queries import ReadModel
from webapp.sessions.search_index import keep_fts_current
from webapp.version import __version__ as __version__

PACKAGE_DIR = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """``templates`` or ``static``: inside the package when installed from a wheel,
    at the top of the checkout when run from source."""
    packaged = PACKAGE_DIR / name
    return packaged if packaged.is_dir() else PACKAGE_DIR.parent / name


def configure_logging(level: str) -> None:
    """One handler on stderr with a readable format; done before the app is made."""
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
            "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain"}},
            "root": {"level": level, "handlers": ["stderr"]},
            # Alembic announces each plugin it loads; only its migrations are news.
            "loggers": {"alembic.runtime.plugins": {"level": "WARNING"}},
        }
    )


def web_engine_options(url: str, lock_wait: float) -> dict[str, Any]:
    """The engine options of the web app: a write waits at most ``lock_wait``
    seconds for a lock (SQLite's busy timeout, PostgreSQL's ``lock_timeout``), then
    fails, and the request answers 503 instead of holding a worker."""
    options = engine_options(url, busy_timeout=lock_wait)
    if make_url(url).get_backend_name() == "postgresql":
        lock_timeout_ms = max(1, round(lock_wait * 1000))
        connect = options["connect_args"]
        connect["options"] = f"{connect['options']} -c lock_timeout={lock_timeout_ms}"
    return options


def share_reads_per_request(app: Flask, database: Database) -> None:
    """Every read of a request on one pooled connection (``Database.shared_reads``),
    checked out at its first read and returned when the request ends: a list page
    made ten checkouts (on PostgreSQL each a ``pool_pre_ping`` round trip, a BEGIN
    and a ROLLBACK). Registered before the other hooks, so the login's user is
    loaded on it too."""

    def open_scope() -> None:
        scope = ExitStack()
        scope.enter_context(database.shared_reads())
        g.sessionboard_reads = scope

    def close_scope(_error: BaseException | None) -> None:
        scope = g.pop("sessionboard_reads", None)
        if scope is not None:
            scope.close()

    app.before_request(open_scope)
    app.teardown_request(close_scope)


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """The app factory: settings, database, the Manager, blueprints, commands."""
    configure_logging(os.environ.get("SESSIONBOARD_LOG_LEVEL", "INFO"))
    app = Flask(
        __name__,
        instance_relative_config=True,
        instance_path=os.environ.get("SESSIONBOARD_INSTANCE_PATH") or None,
        template_folder=str(resource_dir("templates")),
        static_folder=str(resource_dir("static")),
    )
    app.config.from_mapping(settings.defaults())
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
        app.config.from_prefixed_env("SESSIONBOARD")
    else:
        app.config.from_mapping(test_config)
    instance = Path(app.instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = settings.load_secret_key(instance)
    url = database_url(app.config.get("DATABASE_URL") or instance / "sessionboard.db")
    app.config["DATABASE_URL"] = url
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = web_engine_options(
        url, settings.parse_duration(app.config["WRITE_LOCK_TIMEOUT"]).total_seconds()
    )
    app.config["MAX_CONTENT_LENGTH"] = int(app.config["MAX_BODY_BYTES"])
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    if not app.config.get("SESSION_COOKIE_SAMESITE"):  # Flask's default is None
        app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    proxies = int(app.config["TRUSTED_PROXIES"])
    if proxies:
        # Behind a reverse proxy: trust its X-Forwarded-* headers, so https is seen
        # (Secure cookies) and the login throttle counts the client's address.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies
        )

    db.init_app(app)
    csrf.init_app(app)
    with app.app_context():
        store = MessageStore(db.engine, migrate=False)
    # Loaded once per app: the shipped prices, with the instance's own over them.
    store.prices = PriceTable.load(instance / "prices.json")
    manager = Manager(settings.domain_config(app.config), store)
    app.extensions["sessionboard.manager"] = manager
    app.extensions["sessionboard.queries"] = ReadModel(store)
    app.extensions["sessionboard.database"] = Database(store.engine, migrate=False)
    # How far FTS5 may lag behind before a writer indexes inline.
    keep_fts_current(store.engine, tail_limit=int(app.config["SEARCH_TAIL_LIMIT"]))
    share_reads_per_request(app, app.extensions["sessionboard.database"])

    from webapp import (
        accounts,
        api,
        badges,
        dashboard,
        errors,
        params,
        queues,
        rendering,
        review,
        search,
        security,
        shares,
        times,
        transfer,
        urls,
        webhooks,
    )

    # App-wide, for every feature's pages: the template filters (``|markdown``,
    # sanitised HTML; ``|json_code``; ``|preview``, markdown as one line of plain
    # text; ``|relative_time``, ``|exact_time``) and the ``session_id`` route converter (an id
    # the database cannot hold, NUL or over 64 characters, matches no route: a 404).
    app.jinja_env.filters["markdown"] = rendering.render_markdown
    app.jinja_env.filters["json_code"] = rendering.highlight_json
    app.jinja_env.filters["preview"] = rendering.plain_preview
    app.jinja_env.filters["relative_time"] = lambda value: times.relative(value, manager.clock())
    app.jinja_env.filters["exact_time"] = times.exact
    app.jinja_env.globals["time_tag"] = lambda value, empty="never": times.time_tag(
        value, manager.clock(), empty
    )
    app.jinja_env.globals["status_badge"] = badges.status_badge
    app.jinja_env.globals["is_safe_image_url"] = rendering.is_safe_image_url
    app.jinja_env.globals["url_for"] = urls.remembering_url_for(app)
    app.url_map.converters["session_id"] = params.SessionIdConverter
    security.init_app(app)
    errors.init_app(app)
    accounts.init_app(app)
    api.init_app(app)
    dashboard.init_app(app)
    review.init_app(app)
    queues.init_app(app)
    transfer.init_app(app)
    search.init_app(app)
    shares.init_app(app)
    webhooks.init_app(app)

    from webapp.cli import register_commands

    register_commands(app)
    return app


def warm_up(app: Flask) -> None:
    """Pay before the first request what it would pay otherwise: compile every
    template (a session page's first read compiled about 30) and load the
    highlighter's lexers (guessing a code block's language loads them all).

    Then move every object alive by now (modules, compiled templates, routes,
    lexers: about 160,000) out of the collector's sight (``gc.freeze``): they
    live as long as the process, and each full collection walked them all, about
    3% of a list request's CPU once amortised."""
    from webapp import rendering

    for name in app.jinja_env.list_templates(filter_func=lambda n: n.endswith(".html")):
        app.jinja_env.get_template(name)
    rendering.warm_up()
    gc.collect()
    gc.freeze()


def start_background_work(app: Flask) -> None:
    """Start what a serving process runs beside requests: the sweeper thread, the
    pass that renders the messages' HTML (``webapp.prerender``), the one that
    indexes the search index's pending texts (``webapp.search_flush``), and what features
    registered (the webhooks' dispatcher)."""
    from webapp.prerender import Prerenderer
    from webapp.search_flush import SearchFlusher

    manager = app.extensions["sessionboard.manager"]
    manager.start_sweeper()
    loop = Prerenderer(manager.store).make_loop()
    loop.start()
    app.extensions["sessionboard.prerender"] = loop
    # The search index's pending documents, indexed off the append path.
    flusher = SearchFlusher(manager.store).make_loop()
    flusher.start()
    app.extensions["sessionboard.search_flush"] = flusher
    for start in app.extensions.get("sessionboard.background", []):
        start(app)
