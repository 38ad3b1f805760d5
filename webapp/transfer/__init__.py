"""Claude Code in and out: import, live sync through hooks, export."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the transfer blueprint and its commands."""
    from webapp.transfer.cli import COMMANDS
    from webapp.transfer.views import bp

    app.register_blueprint(bp)
    for command in COMMANDS:
        app.cli.add_command(command)
    # `claude-hook` is on the `sessionboard` group itself (webapp/__main__.py): it needs no app.
