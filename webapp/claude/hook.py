"""``sessionboard claude-hook``: live sync of a Claude Code session to a server.

Claude Code runs the command on SessionStart, UserPromptSubmit, Stop and
SessionEnd with the hook's JSON on stdin (``session_id``, ``transcript_path``,
``cwd``, ``hook_event_name``, ...). The command reads the part of the
transcript written since its last call (and of the subagent transcripts in
``<session>/subagents/``) and sends it through the HTTP API: the session is
created (never expiring: SessionEnd closes it), its new messages appended in
batches whose ``Idempotency-Key`` is derived from their source keys, and its
status set running on a prompt, completed (or failed) on Stop, closed on
SessionEnd.

It never slows or breaks the agent: every call has one time budget (3 s by
default) with no retry, a failure is a warning on stderr and exit status 0, and
what could not be sent is written to a local spool that the next call sends
first. When the server answers 503 or 429 with ``Retry-After`` (its write lock
is taken), the calls until then spool without sending. It needs no database
and no app: only the server's URL and a token.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import click

from webapp.claude.transcript import ParsedSession, parse_file
from webapp.client import SessionboardClient, SessionboardError, message

DEFAULT_SPOOL_DIR = Path("~/.cache/sessionboard")
DEFAULT_BUDGET = 3.0
#: Messages per POST: keeps a body well under the server's size limit.
BATCH_MESSAGES = 200
BATCH_BYTES = 4_000_000
EVENT_STATUS = {"UserPromptSubmit": "running", "Stop": "completed", "SessionEnd": "closed"}


class Deadline:
    """The time left of the call's budget."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        """Seconds left (may be negative)."""
        return self.end - time.monotonic()


class Offline(Exception):
    """The server cannot be reached (or the budget is spent): spool and go on."""


class HookSync:
    """Turns one hook event into API operations and sends them, spooling what
    cannot be sent. ``client`` is a :class:`SessionboardClient` (tests pass one
    with another transport); ``folder`` holds the offsets and the spool."""

    def __init__(self, client: SessionboardClient, folder: Path, deadline: Deadline) -> None:
        self.client = client
        self.folder = folder
        self.deadline = deadline
        self.spool = folder / "spool"
        #: Holds the time (Unix seconds) before which the server asked not to call.
        self.retry_after_file = folder / "retry-after"
        self.state_dir = folder / "state"
        self.warnings: list[str] = []
        self._sequence = 0

    # -- what to send -----------------------------------------------------------------

    def operations(self, payload: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """The operations for one hook event, in order; advances the offsets as
        it goes (the caller sends or spools every operation it yields)."""
        session_id = str(payload.get("session_id") or "")
        event = str(payload.get("hook_event_name") or "")
        transcript = payload.get("transcript_path")
        state = self._state(session_id)
        main: ParsedSession | None = None
        if session_id and session_id not in state["created"]:
            context = {"source": "claude-code"}
            if isinstance(payload.get("cwd"), str):
                context["project_path"] = payload["cwd"]
            yield _create(session_id, "", context)
            state["created"].append(session_id)
        if isinstance(transcript, str) and transcript:
            path = Path(transcript).expanduser()
            for file in [path, *sorted((path.parent / path.stem / "subagents").glob("*.jsonl"))]:
                offset = state["offsets"].get(str(file), 0)
                result = parse_file(file, offset)
                for parsed in sorted(result.sessions, key=lambda s: s.parent_id is not None):
                    if parsed.id == session_id:
                        main = parsed
                    yield from self._session_operations(parsed, state)
                state["offsets"][str(file)] = result.end_offset
        status = EVENT_STATUS.get(event)
        if session_id and status is not None:
            body: dict[str, Any] = {"status": status}
            if status == "completed" and main is not None:
                if main.status == "failed":
                    body = {"status": "failed", "error": main.error or ""}
                else:
                    body["response"] = main.response or ""
            if main is not None:
                body["context"] = main.context
                if main.request and event == "UserPromptSubmit":
                    body["request"] = main.request
            yield {"op": "patch", "session_id": session_id, "body": body}
        self._save_state(session_id, state)

    def _session_operations(
        self, parsed: ParsedSession, state: dict[str, Any]
    ) -> Iterator[dict[str, Any]]:
        context = dict(parsed.context)
        if parsed.parent_id is not None:
            context["parent_session_id"] = parsed.parent_id
        if parsed.id not in state["created"]:
            yield _create(parsed.id, parsed.request or "", context)
            state["created"].append(parsed.id)
        elif parsed.parent_id is not None:
            yield {"op": "patch", "session_id": parsed.id, "body": {"context": context}}
        batch: list[dict[str, Any]] = []
        size = 0
        for m in parsed.messages:
            item = message(
                m.role,
                m.content,
                summary=m.summary,
                timestamp=m.timestamp.astimezone(UTC) if m.timestamp else None,
                meta=m.meta,
                source_key=m.source_key,
            )
            weight = len(json.dumps(item))
            if batch and (len(batch) >= BATCH_MESSAGES or size + weight > BATCH_BYTES):
                yield _append(parsed.id, batch)
                batch, size = [], 0
            batch.append(item)
            size += weight
        if batch:
            yield _append(parsed.id, batch)

    # -- sending ----------------------------------------------------------------------

    def send(self, op: dict[str, Any]) -> None:
        """Send one operation; ``Offline`` when the server cannot be reached in
        time. An answer the server refuses (closed session, invalid field) is a
        warning: sending it again would not help."""
        left = self.deadline.left()
        if left <= 0.05:
            raise Offline("the time budget is spent")
        self.client.timeout = left
        sid = op["session_id"]
        try:
            if op["op"] == "create":
                body = op["body"]
                self.client.create_session(
                    body["request"], body["context"], id=sid, never_expires=True
                )
            elif op["op"] == "append":
                self.client.append_many(sid, op["messages"], idempotency_key=op["key"])
            else:
                self.client.update_session(sid, **op["body"])
        except SessionboardError as exc:
            if exc.status == 0 or exc.status >= 500 or exc.status == 429:
                if exc.retry_after is not None:
                    self._write_retry_after(time.time() + exc.retry_after)
                raise Offline(str(exc)) from exc
            if not (op["op"] == "create" and exc.status == 409):  # 409: it exists already
                self.warnings.append(f"{op['op']} {sid}: {exc}")

    def flush_spool(self) -> None:
        """Send what earlier calls spooled, oldest first; ``Offline`` stops it."""
        for file in sorted(self.spool.glob("*.json")):
            claimed = file.with_suffix(".sending")
            try:
                file.rename(claimed)  # another call may be flushing: one of us sends it
            except OSError:
                continue
            try:
                self.send(json.loads(claimed.read_text(encoding="utf-8")))
            except Offline:
                claimed.rename(file)
                raise
            except ValueError:
                self.warnings.append(f"dropped an unreadable spool file {file.name}")
            claimed.unlink(missing_ok=True)

    def write_spool(self, op: dict[str, Any]) -> None:
        """Keep an operation for the next call."""
        self.spool.mkdir(parents=True, exist_ok=True)
        self._sequence += 1
        name = f"{time.time_ns():020d}-{os.getpid()}-{self._sequence:06d}.json"
        tmp = self.spool / (name + ".tmp")
        tmp.write_text(json.dumps(op), encoding="utf-8")
        tmp.rename(self.spool / name)

    def handle(self, payload: dict[str, Any]) -> int:
        """Sync one hook event; return how many operations were spooled."""
        online = True
        try:
            self._check_retry_after()
            self.flush_spool()
        except Offline as exc:
            online = False
            self.warnings.append(f"Sessionboard unreachable ({exc}); spooled for the next call")
        spooled = 0
        for op in self.operations(payload):
            if online:
                try:
                    self.send(op)
                    continue
                except Offline as exc:
                    online = False
                    self.warnings.append(
                        f"Sessionboard unreachable ({exc}); spooled for the next call"
                    )
            self.write_spool(op)
            spooled += 1
        return spooled

    # -- local state ----------------------------------------------------------------------

    def _check_retry_after(self) -> None:
        """``Offline`` while the server's last ``Retry-After`` has not passed."""
        try:
            until = float(self.retry_after_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if time.time() < until:
            raise Offline(f"the server asked to wait (Retry-After) {until - time.time():.1f}s more")

    def _write_retry_after(self, until: float) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.retry_after_file.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(str(until), encoding="utf-8")
        tmp.replace(self.retry_after_file)

    def _state_file(self, session_id: str) -> Path:
        digest = hashlib.sha256(session_id.encode()).hexdigest()[:32]
        return self.state_dir / f"{digest}.json"

    def _state(self, session_id: str) -> dict[str, Any]:
        state: dict[str, Any] = {}
        try:
            loaded = json.loads(self._state_file(session_id).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            loaded = None
        if isinstance(loaded, dict):
            state = loaded
        state.setdefault("offsets", {})
        state.setdefault("created", [])
        return state

    def _save_state(self, session_id: str, state: dict[str, Any]) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        target = self._state_file(session_id)
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(state), encoding="utf-8")
        tmp.replace(target)


def _create(session_id: str, request: str, context: dict[str, Any]) -> dict[str, Any]:
    return {
        "op": "create",
        "session_id": session_id,
        "body": {"request": request, "context": context},
    }


def _append(session_id: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    keys = "\n".join([session_id, *(str(m.get("source_key")) for m in messages)])
    key = "claude-hook-" + hashlib.sha256(keys.encode()).hexdigest()
    return {"op": "append", "session_id": session_id, "messages": messages, "key": key}


def _warn(text: str) -> None:
    click.echo(f"sessionboard claude-hook: {text}", err=True)


@click.command("claude-hook")
@click.option("--url", envvar="SESSIONBOARD_URL", help="The server, e.g. http://127.0.0.1:8000.")
@click.option("--token", envvar="SESSIONBOARD_TOKEN", help="An API token (create-token).")
@click.option(
    "--spool-dir",
    envvar="SESSIONBOARD_SPOOL_DIR",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_SPOOL_DIR,
    show_default=True,
    help="Where offsets and unsent changes are kept.",
)
@click.option(
    "--timeout",
    "budget",
    type=float,
    default=DEFAULT_BUDGET,
    show_default=True,
    help="Seconds the whole call may take.",
)
def claude_hook_command(url: str | None, token: str | None, spool_dir: Path, budget: float) -> None:
    """A Claude Code hook (SessionStart, UserPromptSubmit, Stop, SessionEnd):
    sends the new part of the transcript to Sessionboard. Reads the hook's JSON
    on stdin; always exits 0, with a warning on stderr when something failed."""
    deadline = Deadline(budget)
    try:
        payload = json.loads(sys.stdin.read() or "{}")
        if not isinstance(payload, dict):
            raise ValueError("the hook input is not a JSON object")
        if not url or not token:
            raise ValueError("give --url and --token (or SESSIONBOARD_URL, SESSIONBOARD_TOKEN)")
        client = SessionboardClient(url, token, timeout=budget, retries=0)
        sync = HookSync(client, spool_dir.expanduser(), deadline)
        sync.handle(payload)
        for warning in sync.warnings:
            _warn(warning)
    except Exception as exc:  # noqa: BLE001  (the agent must never see the hook fail)
        _warn(f"{type(exc).__name__}: {exc}")
