"""The ``sessionboard`` command (also ``python -m webapp``): a Flask CLI group over
the app factory. The app's own commands are registered by the factory
(``webapp.cli``); ``claude-hook`` sits on the group itself, since it runs on an
agent's machine with no app or database."""

from __future__ import annotations

import os
import sys

import click
from flask.cli import FlaskGroup

from webapp import create_app
from webapp.claude.hook import claude_hook_command


@click.group(
    cls=FlaskGroup, create_app=create_app, add_version_option=True, add_default_commands=False
)
def main() -> None:
    """Sessionboard: keep, watch and review the sessions of AI coding agents.

    Settings come from SESSIONBOARD_* environment variables (see the README).
    """


main.add_command(claude_hook_command)

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(prog_name=os.path.basename(sys.argv[0])))
