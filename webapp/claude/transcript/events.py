"""Converting system, attachment and progress lines (hooks, compaction, API
retries, command output) into one message each."""

from __future__ import annotations

import json

from webapp.claude.transcript.blocks import Origin, error_text
from webapp.claude.transcript.classify import OLD_HOOK_RE, classify_text
from webapp.claude.transcript.results import ParsedMessage
from webapp.claude.transcript.shapes import Attachment, Entry
from webapp.claude.transcript.text import one_line, strip_ansi


def system_text(entry: Entry) -> str:
    """The ``content`` of a system line, without terminal escapes."""
    raw = entry.get("content")
    return strip_ansi(raw) if isinstance(raw, str) else ""


def api_retry_error(entry: Entry) -> str | None:
    """The error text of a ``system``/``api_error`` retry line, else None."""
    if entry.get("subtype") != "api_error":
        return None
    return system_text(entry) or error_text(entry)


def system_message(entry: Entry, origin: Origin) -> ParsedMessage:
    """The message of a ``system`` line."""
    subtype = entry.get("subtype")
    text = system_text(entry)
    meta = origin.meta()
    if subtype == "compact_boundary":
        content = _compact_boundary(entry, meta)
        return origin.message(0, "system", content, content, meta)
    if subtype == "stop_hook_summary":
        content = _stop_hooks(entry, meta)
        return origin.message(0, "system", content, one_line(content), meta)
    if subtype == "api_error":
        meta.update({"kind": "system", "subtype": "api_error"})
        retry = {
            "retryAttempt": entry.get("retryAttempt"),
            "maxRetries": entry.get("maxRetries"),
            "retryInMs": entry.get("retryInMs"),
        }
        meta.update({k: v for k, v in retry.items() if k in entry})
        content = text or f"API error: {error_text(entry)}"
        return origin.message(0, "system", content, one_line(content), meta)
    if text and ("<command-name>" in text or "<local-command-std" in text):
        markup = classify_text(text)
        if markup is not None:
            meta["kind"] = markup.kind
            meta.update(markup.extra)
            meta["subtype"] = subtype
            return origin.message(0, markup.role, markup.content, one_line(markup.content), meta)
    if subtype is None and OLD_HOOK_RE.match(text):
        meta["kind"] = "hook"
        tool_use_id = entry.get("toolUseID")
        if isinstance(tool_use_id, str):
            meta["tool_use_id"] = tool_use_id
        return origin.message(0, "system", text, one_line(text), meta)
    if subtype == "turn_duration" and not text:
        ms = entry.get("durationMs")
        text = f"Turn took {ms / 1000:.1f} s" if isinstance(ms, int | float) else ""
    meta["kind"] = "system"
    if isinstance(subtype, str):
        meta["subtype"] = subtype
    level = entry.get("level")
    if isinstance(level, str):
        meta["level"] = level
    content = text or f"[{subtype or 'system'}]"
    return origin.message(0, "system", content, one_line(content), meta)


def _compact_boundary(entry: Entry, meta: dict[str, object]) -> str:
    cm = entry.get("compactMetadata")
    cmd = cm if isinstance(cm, dict) else {}
    trigger = cmd.get("trigger")
    pre = cmd.get("preTokens")
    meta.update({"kind": "compaction", "event": "boundary"})
    detail: list[str] = []
    if isinstance(trigger, str):
        meta["trigger"] = trigger
        detail.append(trigger)
    if isinstance(pre, int):
        meta["pre_tokens"] = pre
        detail.append(f"{pre:,} tokens before")
    return "Conversation compacted" + (f" ({', '.join(detail)})" if detail else "")


def _stop_hooks(entry: Entry, meta: dict[str, object]) -> str:
    infos = entry.get("hookInfos")
    cmds = [
        str(h.get("command"))
        for h in (infos if isinstance(infos, list) else [])
        if isinstance(h, dict) and h.get("command")
    ]
    errors = entry.get("hookErrors")
    n_err = len(errors) if isinstance(errors, list) else 0
    content = "Stop hooks: " + ("; ".join(cmds) if cmds else "(none)")
    if n_err:
        content += f" ({n_err} error{'s' if n_err != 1 else ''})"
    meta.update({"kind": "hook", "subtype": "stop_hook_summary", "hook_event": "Stop"})
    if n_err:
        meta["hook_errors"] = errors
    return content


def attachment_message(entry: Entry, origin: Origin) -> ParsedMessage:
    """The message of an ``attachment`` line (hook output, files, reminders)."""
    att = entry.get("attachment")
    a: Attachment = att if isinstance(att, dict) else {}
    atype = str(a.get("type") or "unknown")
    meta = origin.meta()
    body = _attachment_text(a)
    if atype.startswith("hook_"):
        name = _hook_name(a.get("hookName"), a.get("hookEvent"))
        _hook_meta(meta, atype, name, a.get("hookEvent"))
        content = f"{name}: {body}" if body else name
    else:
        meta.update({"kind": "system", "subtype": "attachment", "attachment_type": atype})
        content = body or f"[attachment: {atype}]"
    content = strip_ansi(content)
    return origin.message(0, "system", content, one_line(content), meta)


def progress_message(entry: Entry, origin: Origin) -> ParsedMessage:
    """The message of a ``progress``/``hook_progress`` line."""
    raw = entry.get("data")
    data = raw if isinstance(raw, dict) else {}
    name = _hook_name(data.get("hookName"), data.get("hookEvent"))
    command = data.get("command")
    content = f"{name}: {command}" if isinstance(command, str) and command else name
    meta = origin.meta()
    _hook_meta(meta, "hook_progress", name, data.get("hookEvent"))
    return origin.message(0, "system", content, one_line(content), meta)


def _hook_name(name: object, event: object) -> str:
    return str(name or event or "hook")


def _hook_meta(meta: dict[str, object], subtype: str, name: str, event: object) -> None:
    meta.update({"kind": "hook", "subtype": subtype, "hook_name": name})
    if isinstance(event, str):
        meta["hook_event"] = event


def _attachment_text(a: Attachment) -> str:
    for value in (a.get("content"), a.get("stdout"), a.get("stderr")):
        if isinstance(value, str) and value.strip():
            return value.strip()
        if isinstance(value, list) and value:
            parts = [x if isinstance(x, str) else json.dumps(x, ensure_ascii=False) for x in value]
            return "\n".join(parts)
    names = a.get("addedNames")
    if isinstance(names, list) and names:
        return "Added: " + ", ".join(str(n) for n in names)
    return ""
