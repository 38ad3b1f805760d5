"""Search from the command line: ``sessionboard search QUERY`` and ``--rebuild``.

The query language, the index and the reads are the domain's
(``webapp.sessions.search`` and ``webapp.sessions.search_index``); the dashboard
and the API call them from their own views.
"""

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the ``search`` command."""
    from webapp.search.cli import search_command

    app.cli.add_command(search_command)
