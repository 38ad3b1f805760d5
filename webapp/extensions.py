"""Extensions, created unbound and bound to the app in ``create_app``."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from flask import current_app
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

from webapp.sessions import Manager
from webapp.sessions.engine import Database
from webapp.sessions.models import Base
from webapp.sessions.queries import ReadModel

# Flask-SQLAlchemy shares the domain's MetaData; models subclass the domain's
# ``Base`` so that they stay importable without Flask.
db = SQLAlchemy(metadata=Base.metadata)
#: CSRF on every form and htmx request; the token-authenticated API is exempt.
#: Browsers send the token as a form field ``csrf_token`` or header ``X-CSRFToken``.
csrf = CSRFProtect()


def get_manager() -> Manager:
    """The app's Manager (one per app, over Flask-SQLAlchemy's engine)."""
    manager: Manager = current_app.extensions["sessionboard.manager"]
    return manager


def get_queries() -> ReadModel:
    """The app's read model: every read of sessions and messages."""
    queries: ReadModel = current_app.extensions["sessionboard.queries"]
    return queries


def get_database() -> Database:
    """The app's database, for the features' own tables (users, reviews, audit...).
    A write opened on it takes in the Manager's writes made inside it."""
    database: Database = current_app.extensions["sessionboard.database"]
    return database


def page_reads() -> AbstractContextManager[Any]:
    """A page's reads in one read transaction (a read block inside it joins it):
    on SQLite one BEGIN and one snapshot for all of them, where a list page opened
    seven (on PostgreSQL a request's reads are one transaction already:
    ``Database.shared_reads``). Only around a view's own reads, for a page that
    writes nothing; a search's planner settings end with its savepoint."""
    return get_database().read()
