"""``url_for`` for the templates, remembering what it built.

A page calls ``url_for`` about 45 times (the header's links and assets, the status
links, the pager), nearly always with the same arguments; each call walks
Werkzeug's rules and encodes the query (py-spy: a tenth of a ``/sessions``
request). The URL of a path inside a request depends only on the endpoint, the
values and where the app is mounted (``SCRIPT_NAME``; the host, in case), so it
is built once per such key and then taken from a dict. External URLs, a scheme
or a blueprint-relative endpoint (``.name``) and unhashable values (a list) are
built each time; the dict is emptied when it holds :data:`MAX_URLS`, so values
that vary per row (a cursor, an id) cannot grow it without bound.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, request
from flask.globals import request_ctx

#: How many URLs are kept at most (a few hundred distinct per page at most).
MAX_URLS = 4096


def remembering_url_for(app: Flask) -> Callable[..., str]:
    """The app's ``url_for``, each URL built once per mount point and arguments."""
    build = app.url_for
    built: dict[tuple[Any, ...], str] = {}

    def url_for(endpoint: str, /, **values: Any) -> str:
        if not request_ctx or endpoint[:1] == "." or "_external" in values or "_scheme" in values:
            return build(endpoint, **values)
        key = (request.script_root, request.host, endpoint, *sorted(values.items()))
        try:
            return built[key]
        except KeyError:
            pass
        except TypeError:  # an unhashable value
            return build(endpoint, **values)
        url = build(endpoint, **values)
        if len(built) >= MAX_URLS:
            built.clear()
        built[key] = url
        return url

    return url_for
