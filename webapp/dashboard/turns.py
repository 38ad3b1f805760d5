"""The session page's transcript as turns: the window a page opens at (a finished
session at its first prompt, a running one at its end, or around a message the
outline points to), the turns before and after it, the outline, the live tail
and the subagents' cards.

Reads go through the read model (``get_queries()``); the turns come from the
pure ``webapp.transcript``; the views in ``views.py`` stay thin.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import SimpleNamespace
from typing import Any

from flask import current_app, g
from jinja2 import TemplateNotFound
from jinja2.runtime import Context
from markupsafe import Markup
from werkzeug.datastructures import MultiDict

from webapp import params, rendering
from webapp.extensions import get_queries
from webapp.sessions import Session
from webapp.sessions.transcripts import TranscriptMessage, TranscriptSlice
from webapp.transcript import Turn, build_turns
from webapp.transcript.model import markdown_text, outline_text
from webapp.transcript.options import TOGGLES, NoiseToggles
from webapp.transcript.subagents import ChildCard
from webapp.transcript.window import Window, trim

#: Messages a window reads (then cut to whole turns).
WINDOW = 120
#: Messages a live update reads from the start of the last turn on.
LIVE_WINDOW = 1_000
#: Past this many messages a window in the middle shows no turn numbers.
NUMBERING_LIMIT = 5_000
#: Prompts an outline request lists.
OUTLINE_PAGE = 200

#: What a shared page does to each message before turns are built (the redactor).
Rewrite = Callable[[TranscriptMessage], TranscriptMessage]


def noise_toggles(args: MultiDict[str, str]) -> NoiseToggles:
    """The URL's toggles (``thinking``, ``tools``, ``hooks``: 0 or 1, else a 400)."""
    values = {name: params.choice(args, name, ("0", "1"), "0") == "1" for name in TOGGLES}
    return NoiseToggles(**values)


def stored_html(messages: list[TranscriptMessage]) -> list[TranscriptMessage]:
    """``messages``, their stored HTML handed to the renderer first: ``|markdown``
    then renders none of their texts (``rendering.adopt`` takes HTML only for the
    exact text it was made from, so a text rewritten later is rendered anew)."""
    for m in messages:
        if m.rendered is not None:
            rendering.adopt(markdown_text(m.content, m.meta), m.rendered)
    return messages


def _trimmed(
    found: TranscriptSlice, *, front: bool = True, back: bool = True, rewrite: Rewrite | None = None
) -> Window[TranscriptMessage]:
    """The slice cut to whole turns at its ``front`` and ``back``; a side that
    touches turns already shown is not cut (and offers no "more" on that side).
    ``rewrite`` (a shared page's redactor) is applied to each message, after
    their stored HTML is adopted (:func:`stored_html`)."""
    window = trim(
        stored_html(found.messages), earlier=found.earlier and front, later=found.later and back
    )
    messages = [rewrite(m) for m in window.messages] if rewrite else window.messages
    return Window(messages, earlier=window.earlier, later=window.later)


def _numbered(session: Session, window: Window[TranscriptMessage]) -> tuple[list[Turn[Any]], bool]:
    """The window's turns, and whether their numbers are the session's: counting
    the prompts before a window is skipped past :data:`NUMBERING_LIMIT` messages
    (a scan of them; the outline numbers every prompt anyway)."""
    if not window.earlier or not window.messages:
        return build_turns(window.messages), True
    if session.message_count > NUMBERING_LIMIT:
        return build_turns(window.messages), False
    first = get_queries().prompts_before(session.id, window.messages[0].id) + 1
    return build_turns(window.messages, first_number=first), True


def children(session: Session) -> dict[str, ChildCard]:
    """The cards of the session's subagents, by child session id."""
    return {
        c.id: ChildCard(
            c.id,
            c.status,
            c.message_count,
            c.created_at,
            c.last_activity,
            total_tokens=c.total_tokens,
            cost_nanos=c.cost_nanos,
        )
        for c in get_queries().children(session.id)
    }


def page_context(
    session: Session, args: MultiDict[str, str], *, live: bool, rewrite: Rewrite | None = None
) -> dict[str, Any]:
    """What the session page's transcript section needs: the window (``around`` a
    message, or ``at`` the start or end: a running session opens at its end), its
    turns, the live tail (the last turn, which live updates redraw), the toggles.
    ``rewrite`` is applied to each message first (a shared page's redactor)."""
    around = params.integer(args, "around")
    at = params.choice(args, "at", ("start", "end"), "end" if live else "start")
    reads = get_queries()
    if around is not None:
        found = reads.transcript_slice(session.id, around=around, limit=WINDOW)
    else:
        found = reads.transcript_slice(session.id, at_end=at == "end", limit=WINDOW)
    window = _trimmed(found, rewrite=rewrite)
    turns, numbered = _numbered(session, window)
    context: dict[str, Any] = {
        "window": window,
        "turns": turns,
        "numbered": numbered,
        "toggles": noise_toggles(args),
        "toggle_names": TOGGLES,
        "children": children(session),
        "last_id": max((m.id for m in window.messages), default=0),
        "tail_id": 0,
        "tail_number": 1,
        # a window short of the end (opened around a message) does not follow
        "follow": not window.later,
    }
    if live and not window.later:
        context.update(_tail(turns))
    elif live:
        # the outline lists every prompt already: updates bring what comes after
        # the newest message, not after the window
        state = reads.live_state(session.id)
        context["last_id"] = max(context["last_id"], state.last_message_id if state else 0)
    return context


def _tail(turns: list[Turn[Any]]) -> dict[str, Any]:
    """A live window's last turn split off into ``#live-tail`` (live updates redraw
    it), and where it starts, for the live poller."""
    if not turns:
        return {"tail_turns": [], "tail_id": 0, "tail_number": 1}
    return {
        "turns": turns[:-1],
        "tail_turns": turns[-1:],
        "tail_id": turns[-1].first.id,
        "tail_number": first_number(turns[-1]),
    }


#: The review feature's comment control beside each message (optional: a build
#: without it shows none).
COMMENT_TEMPLATE = "review/_message_comments.html"
#: A message id no message has: the control is drawn once for it, then each
#: message's id is put in its place.
_PLACEHOLDER = 987_654_321_987_654_321


def comment_control(context: Context, message: Any) -> Markup:
    """The comment control of one transcript ``message`` when the page passes
    ``comments`` (message id -> its comments). A message without comments gets the
    control drawn once per request and page for a placeholder id (a transcript of
    120 messages drew the same form 120 times, one template context each); one
    with comments is drawn on its own."""
    comments = context.get("comments")
    message_id = getattr(message, "id", None)
    if not isinstance(comments, Mapping) or message_id is None:
        return Markup("")
    try:
        template = current_app.jinja_env.get_template(COMMENT_TEMPLATE)
    except TemplateNotFound:
        return Markup("")
    found = comments.get(message_id)
    if found:
        mine = {**context.get_all(), "message": message, "comments": found}
        return Markup(template.render(mine))  # noqa: S704  (an autoescaped template)
    drawn: dict[int, str] = g.setdefault("comment_controls", {})
    blank = drawn.get(id(comments))
    if blank is None:
        placeholder = SimpleNamespace(id=_PLACEHOLDER)
        blank = template.render({**context.get_all(), "message": placeholder, "comments": []})
        drawn[id(comments)] = blank
    return Markup(blank.replace(str(_PLACEHOLDER), str(int(message_id))))  # noqa: S704


def first_number(turn: Turn[Any]) -> int:
    """The ``first_number`` that numbers ``turn`` again when turns are built from
    its first message on."""
    return turn.number if turn.prompt is not None else turn.number + 1


def more_context(
    session: Session,
    args: MultiDict[str, str],
    *,
    live: bool = False,
    rewrite: Rewrite | None = None,
) -> dict[str, Any]:
    """The turns after message ``after`` or before message ``before`` (numbered
    from ``n``: the next turn's number, or the first shown turn's), for "load
    later/earlier turns"; with ``embed`` the whole start of a subagent's transcript.
    Later turns that reach the end of a ``live`` session bring ``#live-tail`` and
    the live poller, which follows again (``reattach``)."""
    after, before = params.integer(args, "after"), params.integer(args, "before")
    number = params.integer(args, "n")
    numbered = number != 0  # 0: the page did not know the numbers
    reads = get_queries()
    if after is not None:
        window = _trimmed(
            reads.transcript_slice(session.id, after=after, limit=WINDOW),
            front=False,
            rewrite=rewrite,
        )
        turns = build_turns(window.messages, first_number=number or 1)
        if live and not window.later:
            return {
                "window": window,
                "turns": turns,
                "numbered": numbered,
                "toggles": noise_toggles(args),
                "children": children(session),
                "reattach": True,
                "last_id": max((m.id for m in window.messages), default=after),
                "follow": True,
                **_tail(turns),
            }
    elif before is not None:
        window = _trimmed(
            reads.transcript_slice(session.id, before=before, limit=WINDOW),
            back=False,
            rewrite=rewrite,
        )
        turns, numbered = _numbered(session, window)
    else:
        window = _trimmed(reads.transcript_slice(session.id, limit=WINDOW), rewrite=rewrite)
        turns = build_turns(window.messages)
    return {
        "window": window,
        "turns": turns,
        "numbered": numbered,
        "toggles": noise_toggles(args),
        "children": children(session),
    }


def message_context(message: TranscriptMessage) -> dict[str, Any]:
    """One whole message drawn as the turn view draws it (the answer to "show the
    whole message"): its prompt parts or its steps, opened."""
    built = build_turns(stored_html([message]))
    turn = built[0] if built else None
    return {
        "message": message,
        "prompt_turn": turn if turn is not None and turn.prompt is not None else None,
        "steps": turn.steps if turn is not None else [],
        "toggles": NoiseToggles(thinking=True, tools=True, hooks=True),
        "hit": message.id,
    }


def outline_context(session: Session, args: MultiDict[str, str]) -> dict[str, Any]:
    """A page of the outline: the prompts after message ``after``, numbered from ``n``."""
    after = params.integer(args, "after")
    first = params.integer(args, "n") or 1
    lines, more = get_queries().prompt_outline(session.id, after=after, limit=OUTLINE_PAGE)
    entries = [
        {
            "number": first + i,
            "id": line.id,
            "text": outline_text(line.text),
            "timestamp": line.timestamp,
        }
        for i, line in enumerate(lines)
    ]
    return {"outline": {"entries": entries, "more": more}, "toggles": noise_toggles(args)}


def live_context(session: Session, args: MultiDict[str, str], after: int) -> dict[str, Any]:
    """What a live update redraws: the turns from the start of the last one shown
    (``tail``, numbered ``n``) on. The finished ones go before ``#live-tail``, the
    last one into it; new prompts join the outline."""
    tail = params.integer(args, "tail") or 0
    given = params.integer(args, "n")
    number = 1 if given is None else given
    reads = get_queries()
    if params.choice(args, "follow", ("0", "1"), "1") == "0":
        return _detached_update(session, args, after)
    if tail:
        found = reads.transcript_slice(session.id, since=tail, limit=LIVE_WINDOW)
    else:
        found = reads.transcript_slice(session.id, after=after or None, limit=LIVE_WINDOW)
    changed = any(m.id > after for m in found.messages)
    turns = build_turns(stored_html(found.messages), first_number=number) if changed else []
    last = turns[-1:]
    return {
        "done_turns": turns[:-1],
        "tail_turns": last,
        # the tail's own prompt is in the outline already
        "new_prompts": [t for t in (turns[1:] if tail else turns) if t.prompt is not None],
        "last_id": max((m.id for m in found.messages), default=after),
        "tail_id": last[0].first.id if last else tail,
        "tail_number": first_number(last[0]) if last else number,
        "toggles": noise_toggles(args),
        "children": children(session),
    }


def _detached_update(session: Session, args: MultiDict[str, str], after: int) -> dict[str, Any]:
    """A live update for a page that shows a window short of the end: no turns
    (they come with "Load later turns"), the prompts that arrived for the outline
    (an ``<ol>`` numbers them on from the last), the poller still detached."""
    lines, _more = get_queries().prompt_outline(session.id, after=after or None, limit=LIVE_WINDOW)
    last = get_queries().live_state(session.id)
    return {
        "done_turns": [],
        "tail_turns": [],
        "new_prompts": [],
        "new_outline": [{"id": line.id, "text": outline_text(line.text)} for line in lines],
        "last_id": max(after, last.last_message_id if last is not None else 0),
        "tail_id": params.integer(args, "tail") or 0,
        "tail_number": params.integer(args, "n") or 1,
        "follow": False,
        "toggles": noise_toggles(args),
        "children": children(session),
    }
