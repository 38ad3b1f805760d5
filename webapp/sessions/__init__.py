"""The session domain: a port of the Go ``session`` package. No Flask here.

>>> from webapp.sessions import Config, Manager, Message
>>> manager = Manager(Config())
>>> session = manager.create("fix the build")
>>> manager.append_message(session.id, Message("user", "fix the build"))
True
"""

from .manager import Manager
from .rows import BulkRows, first_of_each_key, message_values, session_values
from .store import (
    AppendGuard,
    AppendOutcome,
    DuplicateSessionError,
    MessageStore,
    UnknownSessionError,
)
from .types import Config, Message, Session, Status, SweepResult

__all__ = [
    "AppendGuard",
    "AppendOutcome",
    "BulkRows",
    "Config",
    "DuplicateSessionError",
    "Manager",
    "Message",
    "MessageStore",
    "Session",
    "Status",
    "SweepResult",
    "UnknownSessionError",
    "first_of_each_key",
    "message_values",
    "session_values",
]
