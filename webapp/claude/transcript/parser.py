"""Parsing files: the three passes over a file's lines, and the public entry
points :func:`parse_file`, :func:`parse_paths` and :func:`iter_transcript_files`."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from webapp.claude.transcript.assemble import (
    Emitted,
    Resume,
    SessionBuilder,
    SessionFacts,
    Usage,
    build_session,
)
from webapp.claude.transcript.blocks import (
    Origin,
    assistant_messages,
    read_assistant,
    user_messages,
)
from webapp.claude.transcript.classify import (
    MESSAGE_TYPES,
    entry_type,
    gives_messages,
    skip_reason,
)
from webapp.claude.transcript.events import (
    api_retry_error,
    attachment_message,
    progress_message,
    system_message,
)
from webapp.claude.transcript.lines import Line, clean_text, read_lines
from webapp.claude.transcript.results import (
    TOKEN_FIELDS,
    ParsedMessage,
    ParsedSession,
    ParseResult,
    ParseStats,
)
from webapp.claude.transcript.shapes import Entry, MessageBody, text_of
from webapp.claude.transcript.subagents import SubagentIndex, link_sessions, read_sidecar_meta
from webapp.claude.transcript.text import as_int, parse_ts

_TITLE_KEYS = {"custom-title": ("customTitle", "title"), "ai-title": ("aiTitle", "title")}


@dataclass
class Responses:
    """API responses split over several lines (one ``message.id``)."""

    #: per-field maximum of the usage snapshots of each response
    usage: dict[str, Usage] = field(default_factory=dict)
    #: response id -> offset of its last line
    end: dict[str, int] = field(default_factory=dict)
    #: response id -> (its first message, that message's line offset, session key)
    first: dict[str, tuple[ParsedMessage, int, str]] = field(default_factory=dict)

    def note(self, message: MessageBody, offset: int) -> None:
        """Take an assistant line's usage snapshot into its response's."""
        mid = message.get("id")
        if not isinstance(mid, str):
            return
        self.end[mid] = offset
        usage = usage_of(message)
        if usage is None:
            return
        cur = self.usage.setdefault(mid, usage)
        for k in TOKEN_FIELDS:
            cur[k] = max(cur[k], usage[k])

    def report_straddling(self, resume: Resume) -> None:
        """A response whose first message came before the offset and whose later
        lines are new: the earlier message's usage was a snapshot."""
        for mid, (msg, offset, key) in self.first.items():
            if resume.straddles(offset, self.end.get(mid, -1)):
                resume.update(key, msg, "usage")


def usage_of(message: MessageBody) -> Usage | None:
    """The token fields of a line's ``usage``, or None."""
    usage = message.get("usage")
    if not isinstance(usage, dict):
        return None
    return {k: as_int(usage.get(k)) for k in TOKEN_FIELDS}


@dataclass
class Bookkeeping:
    """What the lines without messages say: titles, summaries, PR links."""

    summaries: dict[str, str] = field(default_factory=dict)  # leafUuid -> text
    titles: dict[str, dict[str, str]] = field(default_factory=dict)  # type -> sid -> title
    pr_links: dict[str, list[str]] = field(default_factory=dict)  # sid -> URLs

    def note(self, etype: str, entry: Entry, sid: str) -> None:
        """Remember a summary, title or PR link line."""
        if etype == "summary":
            leaf, text = entry.get("leafUuid"), entry.get("summary")
            if isinstance(leaf, str) and isinstance(text, str):
                self.summaries[leaf] = text
        elif etype in _TITLE_KEYS:
            for k in _TITLE_KEYS[etype]:
                v = entry.get(k)
                if isinstance(v, str) and v.strip():
                    self.titles.setdefault(etype, {})[sid] = v.strip()
                    return
        elif etype == "pr-link":
            url = text_of(entry.get("prUrl"))
            links = self.pr_links.setdefault(sid, [])
            if url is not None and url not in links:
                links.append(url)

    def title(self, b: SessionBuilder, used_summaries: set[str]) -> str | None:
        """A custom title, else a summary of one of its lines, else (for a main
        session) an AI title."""
        title = self.titles.get("custom-title", {}).get(b.session_id)
        if title is None:
            for leaf, text in self.summaries.items():
                if leaf in b.seen_uuids:
                    title = text
                    used_summaries.add(leaf)
        if title is None and b.parent_id is None:
            title = self.titles.get("ai-title", {}).get(b.session_id)
        return title


class FileParser:
    """One file's lines read in three passes: index, emit, link."""

    def __init__(self, path: Path, lines: list[Line], stats: ParseStats, start_offset: int) -> None:
        self.path = path
        # a file name's undecodable bytes are lone surrogates (surrogateescape)
        self.default_session_id = clean_text(path.stem)[0]
        self.lines = lines
        self.stats = stats
        self.resume = Resume(start_offset)
        self.responses = Responses()
        self.bookkeeping = Bookkeeping()
        self.subagents = SubagentIndex()
        self.builders: dict[str, SessionBuilder] = {}
        self.skipped: set[int] = set()  # offsets of lines skipped in pass 1

    def _sid(self, entry: Entry) -> str:
        return text_of(entry.get("sessionId")) or self.default_session_id

    # -- pass 1: state that needs the whole file
    def index(self) -> None:
        """Count entries and skipped lines; gather whole-file state."""
        for line in self.lines:
            entry = line.entry
            etype = entry_type(entry)
            if line.new:
                self.stats.count_entry(etype)
            reason = skip_reason(entry)
            if reason is not None:
                self.skipped.add(line.offset)
                if line.new:
                    self.stats.skip(reason)
                continue
            sid = self._sid(entry)
            if etype not in MESSAGE_TYPES:
                self.bookkeeping.note(etype, entry, sid)
                continue
            self.subagents.note_line(entry, sid, line.offset)
            message = entry.get("message")
            if etype == "assistant" and isinstance(message, dict):
                self.responses.note(message, line.offset)

    # -- pass 2: messages
    def emit(self) -> None:
        """Turn every line into its session's messages."""
        for line in self.lines:
            entry = line.entry
            if line.offset in self.skipped or not gives_messages(entry):
                continue
            b = self._builder_for(entry, line.offset)
            uuid = entry.get("uuid")
            if isinstance(uuid, str):
                if uuid in b.seen_uuids:
                    if line.new:
                        self.stats.skip("duplicate_uuid")
                    continue
                b.seen_uuids.add(uuid)
            b.touched = b.touched or line.new
            ts = parse_ts(entry.get("timestamp"))
            b.see_ts(ts)
            _see_context(b, entry)
            key_uuid = uuid if isinstance(uuid, str) else None
            base = key_uuid if key_uuid is not None else f"L{line.offset}"
            origin = Origin(base, key_uuid, ts)
            msgs = self._messages(b, entry, origin, line.offset)
            self.subagents.note_messages(b, msgs, line.offset)
            b.emitted.extend(Emitted(line.offset, m) for m in msgs)

    def _builder_for(self, entry: Entry, offset: int) -> SessionBuilder:
        sid = self._sid(entry)
        child = self.subagents.child_of(entry, sid, offset)
        key, parent_id, agent_id = (sid, None, None) if child is None else (child[0], sid, child[1])
        b = self.builders.get(key)
        if b is None:
            b = SessionBuilder(key=key, session_id=key, parent_id=parent_id, agent_id=agent_id)
            self.builders[key] = b
        return b

    def _messages(
        self, b: SessionBuilder, entry: Entry, origin: Origin, offset: int
    ) -> list[ParsedMessage]:
        etype = entry.get("type")
        message = entry.get("message")
        if etype == "assistant" and isinstance(message, dict):
            return self._assistant(b, entry, message, origin, offset)
        if etype == "user" and isinstance(message, dict):
            user = user_messages(entry, message, origin)
            prompt = user.prompt
            if b.first_prompt is None and prompt is not None:
                b.first_prompt, b.first_prompt_offset = prompt, offset
            return user.messages
        if etype == "system":
            error = api_retry_error(entry)
            if error is not None:
                b.outcome_error = error
            return [system_message(entry, origin)]
        if etype == "attachment":
            return [attachment_message(entry, origin)]
        return [progress_message(entry, origin)]

    def _assistant(
        self, b: SessionBuilder, entry: Entry, message: MessageBody, origin: Origin, offset: int
    ) -> list[ParsedMessage]:
        line = read_assistant(entry, message)
        if line.api_error:
            b.outcome_error = line.error
        elif not line.synthetic:
            b.outcome_error = None
        if line.model and not line.synthetic:
            b.models.add(line.model)
        usage: Usage | None = None
        mid = line.response_id
        if mid is not None:
            b.response_ids.add(mid)
            if mid not in b.usage_placed:
                usage = self.responses.usage.get(mid)
        else:
            usage = usage_of(message)
            if usage is not None and not line.synthetic:
                b.loose_usage.append(usage)
        msgs = assistant_messages(line, entry, origin)
        if usage is not None and msgs:
            msgs[0].meta["usage"] = dict(usage)
            if mid is not None:
                b.usage_placed.add(mid)
                self.responses.first[mid] = (msgs[0], offset, b.key)
        return msgs

    # -- pass 3: links, then sessions
    def finish(self) -> tuple[list[ParsedSession], dict[str, str]]:
        """Link subagents, then assemble the sessions with new lines or
        updates, and the summaries that match none of the file's sessions."""
        self.subagents.link(self.builders, self.resume)
        self.responses.report_straddling(self.resume)
        sidecar = read_sidecar_meta(self.path)
        children_of = self.subagents.children_of(self.builders.values())
        used_summaries: set[str] = set()
        parents = [b for b in self.builders.values() if b.parent_id is None]
        children = [b for b in self.builders.values() if b.parent_id is not None]
        sessions: list[ParsedSession] = []
        for b in parents + children:
            if not b.touched and b.key not in self.resume.meta_updates:
                continue
            facts = SessionFacts(
                path=str(self.path),
                response_usage=self.responses.usage,
                title=self.bookkeeping.title(b, used_summaries),
                pr_links=self.bookkeeping.pr_links.get(b.session_id, []),
                children=children_of.get(b.session_id, []),
                sidecar=sidecar,
            )
            sessions.append(build_session(b, facts, self.resume))
        # summaries matched to a session that was not returned are not orphans
        seen = set[str]().union(*(b.seen_uuids for b in self.builders.values()))
        orphans = {k: v for k, v in self.bookkeeping.summaries.items() if k not in seen}
        return sessions, orphans


def _see_context(b: SessionBuilder, entry: Entry) -> None:
    """The project folder (first), branch, version and slug (last) of a session."""
    if b.cwd is None:
        b.cwd = text_of(entry.get("cwd"))
    b.git_branch = text_of(entry.get("gitBranch")) or b.git_branch
    b.version = text_of(entry.get("version")) or b.version
    b.slug = text_of(entry.get("slug")) or b.slug


# ----------------------------------------------------------------------- public


def parse_file(path: str | os.PathLike[str], start_offset: int = 0) -> ParseResult:
    """Parse one Claude Code ``.jsonl`` transcript.

    Only messages of lines starting at or after ``start_offset`` are returned
    (session fields are whole-file values); ``end_offset`` is where the next
    call should start. Malformed, unknown and truncated lines are skipped and
    counted in ``stats``; nothing in the file's content raises.
    """
    p = Path(path)
    stats = ParseStats(files=1)
    try:
        data = p.read_bytes()
    except OSError:
        stats.unreadable_files.append(str(p))
        return ParseResult([], stats, start_offset, {str(p): start_offset})
    if not data:
        stats.empty_files.append(str(p))
        return ParseResult([], stats, 0, {str(p): 0})
    if start_offset < 0 or start_offset > len(data):
        stats.offset_resets.append(str(p))
        start_offset = 0
    lines, end_offset = read_lines(data, start_offset, stats)
    fp = FileParser(p, lines, stats, start_offset)
    fp.index()
    fp.emit()
    sessions, orphans = fp.finish()
    return ParseResult(sessions, stats, end_offset, {str(p): end_offset}, orphans)


def _is_subagent_file(path: Path) -> bool:
    return path.name.startswith("agent-") or "subagents" in path.parts


def iter_transcript_files(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
) -> Iterator[Path]:
    """The ``.jsonl`` files under ``paths`` (files, or folders walked
    recursively without following symlinked folders), each once. Sorted by
    path, main session files before subagent files (so parents come first).
    ``~`` is expanded, so ``~/.claude/projects`` works as a whole. A path that
    does not exist raises ``FileNotFoundError``."""
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    found: dict[Path, Path] = {}
    for raw in paths:
        p = Path(os.path.expanduser(os.fspath(raw)))
        if p.is_dir():
            for dirpath, dirnames, filenames in os.walk(p):
                dirnames.sort()
                for name in filenames:
                    if name.endswith(".jsonl"):
                        f = Path(dirpath) / name
                        if f.is_file():
                            found.setdefault(f.resolve(), f)
        elif p.is_file():
            if p.name.endswith(".jsonl"):
                found.setdefault(p.resolve(), p)
        else:
            raise FileNotFoundError(str(p))
    yield from sorted(found.values(), key=lambda f: (_is_subagent_file(f), str(f)))


def parse_paths(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
) -> ParseResult:
    """Parse every transcript under ``paths`` from the start, link subagents
    across files, and give titles to sessions from summaries found in other
    files. ``end_offsets`` holds each file's end offset."""
    stats = ParseStats()
    sessions: list[ParsedSession] = []
    offsets: dict[str, int] = {}
    orphans: dict[str, str] = {}
    for f in iter_transcript_files(paths):
        r = parse_file(f)
        stats.merge(r.stats)
        sessions.extend(r.sessions)
        offsets.update(r.end_offsets)
        orphans.update(r.orphan_summaries)
    link_sessions(sessions)
    if orphans:
        for s in sessions:
            if "title" in s.context:
                continue
            for m in s.messages:
                uuid = m.meta.get("uuid")
                if isinstance(uuid, str) and uuid in orphans:
                    s.context["title"] = orphans.pop(uuid)
    return ParseResult(sessions, stats, 0, offsets, orphans)
