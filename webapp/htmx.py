"""What htmx asked for, decided in one place, and responses that say they vary on it.

``is_htmx()``: the request came from htmx (any kind: an error or a login prompt
then answers with a fragment). ``wants_fragment()``: htmx wants a part of the page
to swap in; a history restore or a full-page request gets the whole page, so
every URL pushed into history also works when loaded directly.
"""

from __future__ import annotations

from flask import Response, make_response, render_template, request


def is_htmx() -> bool:
    """The request was made by htmx."""
    return request.headers.get("HX-Request") == "true"


def wants_fragment() -> bool:
    """htmx asks for a fragment (not a history restore, not a full page)."""
    return (
        is_htmx()
        and request.headers.get("HX-History-Restore-Request") != "true"
        and request.headers.get("HX-Request-Type") != "full"
    )


def vary(response: Response) -> Response:
    """Mark ``response`` as depending on ``HX-Request`` (page or fragment)."""
    response.vary.add("HX-Request")
    return response


def html(body: str, status: int = 200) -> Response:
    """An HTML response that varies on ``HX-Request``."""
    return vary(make_response(body, status))


def page_or_fragment(page: str, fragment: str, status: int = 200, **context: object) -> Response:
    """Render ``fragment`` when htmx asks for one, else the whole ``page``."""
    return html(render_template(fragment if wants_fragment() else page, **context), status)
