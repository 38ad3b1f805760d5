"""A progress bar for long work on the command line: ``sessionboard db upgrade``'s
migrations and the commands that fill or rebuild something in batches."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

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


@dataclass
class Timed:
    """What a :func:`timed_progress` block reports to: ``progress(done, in_all)``
    for its bar, and :meth:`done` to say what it did."""

    progress: Callable[[int, int], None]
    said: str | None = None

    def done(self, what: str) -> None:
        """Say ``what`` was done, with how long it took, once the bar is closed."""
        self.said = what


@contextmanager
def timed_progress(label: str, length: int = 1, *, err: bool = True) -> Iterator[Timed]:
    """:func:`progress_bar`, and after it the block's :meth:`Timed.done` line,
    "{what} in 12.3 s" (on standard error, or with ``err`` false standard
    output); nothing when the block said nothing."""
    started = time.monotonic()
    with progress_bar(label, length) as progress:
        timed = Timed(progress)
        yield timed
    if timed.said is not None:
        click.echo(f"{timed.said} in {time.monotonic() - started:.1f} s", err=err)
