"""A progress bar for long work on the command line: ``sessionboard db upgrade``'s
migrations and the commands that fill or rebuild something in batches."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click


@contextmanager
def progress_bar(label: str, length: int = 1) -> Iterator[Callable[[int, int], None]]:
    """A click progress bar on standard error, given as the callback the store's
    long work reports to: ``progress(done, in_all)``, whose total may change."""
    with click.progressbar(length=length, label=label, file=sys.stderr, show_pos=True) as bar:

        def progress(done: int, total: int) -> None:
            bar.length = total
            bar.update(done - bar.pos)

        yield progress
