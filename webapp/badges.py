"""A session's status as pages show it: ``<span class="badge s-STATUS">``.

One writer for every page: the ``badge`` macro in ``_partials/macros.html`` calls
it (the ``status_badge`` template global), and the rows written in Python (the
session list's, the inbox's) call it directly.
"""

from __future__ import annotations

from markupsafe import Markup, escape


def status_badge(status: str, id: str | None = None) -> Markup:  # noqa: A002  (the HTML attribute)
    """The badge of ``status``, with the element id ``id`` if given (both escaped)."""
    element_id = f' id="{escape(id)}"' if id else ""
    status = escape(status)
    return Markup(f'<span{element_id} class="badge s-{status}">{status}</span>')  # noqa: S704
