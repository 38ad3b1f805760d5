"""Converting the content blocks of user and assistant lines into messages.

Pure functions: one content block is one :class:`ParsedMessage`; what a line
teaches the session (outcome, prompt, usage, links) is the parser's business.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

from webapp.claude.transcript.classify import classify_text
from webapp.claude.transcript.results import ParsedMessage
from webapp.claude.transcript.shapes import Block, Entry, JSONValue, MessageBody
from webapp.claude.transcript.text import one_line

SYNTHETIC_MODEL = "<synthetic>"
_TOOL_SUMMARY_KEYS = (
    "command",
    "file_path",
    "notebook_path",
    "path",
    "pattern",
    "url",
    "query",
    "description",
    "skill",
    "subject",
    "prompt",
    "to",
    "taskId",
)


@dataclass(frozen=True)
class Origin:
    """Where a line's messages come from: their key base (the line's uuid, or
    ``L<byte offset>``), the uuid for their meta, and the line's timestamp."""

    base: str
    uuid: str | None
    ts: datetime | None

    def meta(self) -> dict[str, object]:
        """A fresh meta for one message of the line."""
        return {"uuid": self.uuid} if self.uuid is not None else {}

    def message(
        self, index: int, role: str, content: str, summary: str, meta: dict[str, object]
    ) -> ParsedMessage:
        """The message of the line's block ``index``."""
        return ParsedMessage(role, content, summary, self.ts, meta, f"{self.base}:{index}")


def blocks_of(content: object) -> list[Block]:
    """A message's content as blocks (a string is one text block)."""
    if isinstance(content, str):
        return [Block(type="text", text=content)]
    if isinstance(content, list):
        return [
            cast(Block, bl) if isinstance(bl, dict) else Block(type="text", text=str(bl))
            for bl in content
        ]
    return []


def _text(value: object) -> str:
    return str(value or "")


# ---------------------------------------------------------------------- assistant


@dataclass
class AssistantLine:
    """What an assistant line says about its response."""

    blocks: list[Block]
    model: str | None
    response_id: str | None
    synthetic: bool
    api_error: bool
    #: The session's error text when this line is an API error.
    error: str = ""


def read_assistant(entry: Entry, message: MessageBody) -> AssistantLine:
    """Read an assistant line (its ``message`` already checked to be an object)."""
    model = message.get("model")
    model_s = model if isinstance(model, str) else None
    mid = message.get("id")
    blocks = blocks_of(message.get("content"))
    texts = [_text(bl.get("text")) for bl in blocks if bl.get("type") == "text"]
    synthetic = model_s == SYNTHETIC_MODEL
    api_error = entry.get("isApiErrorMessage") is True or (
        synthetic and any(t.lstrip().startswith("API Error") for t in texts)
    )
    error = ""
    if api_error:
        error = "\n".join(t for t in texts if t.strip()) or error_text(entry)
    return AssistantLine(
        blocks, model_s, mid if isinstance(mid, str) else None, synthetic, api_error, error
    )


def assistant_messages(line: AssistantLine, entry: Entry, origin: Origin) -> list[ParsedMessage]:
    """One message per block of an assistant line."""
    out: list[ParsedMessage] = []
    for i, block in enumerate(line.blocks):
        meta = origin.meta()
        if line.model:
            meta["model"] = line.model
        if line.response_id:
            meta["response_id"] = line.response_id
        if line.synthetic:
            meta["synthetic"] = True
        role, content, summary = _assistant_block(block, line, entry, meta)
        out.append(origin.message(i, role, content, summary, meta))
    return out


def _assistant_block(
    block: Block, line: AssistantLine, entry: Entry, meta: dict[str, object]
) -> tuple[str, str, str]:
    """Role, content and summary of one assistant block; fills ``meta``."""
    btype = block.get("type")
    if btype == "text":
        content = _text(block.get("text"))
        if not line.api_error:
            meta["kind"] = "text"
            return "assistant", content, one_line(content)
        meta["kind"] = "api_error"
        for src, dst in (("error", "error"), ("apiErrorStatus", "status")):
            value = entry.get(src)
            if value is not None:
                meta[dst] = value
        return "system", content, one_line(content)
    if btype in ("thinking", "redacted_thinking"):
        content = _text(block.get("thinking"))
        meta["kind"] = "thinking"
        if not content:
            meta["redacted"] = True
        return "assistant", content, one_line(content) if content else "[thinking]"
    if btype in ("tool_use", "server_tool_use"):
        name = str(block.get("name") or "?")
        tinput = block.get("input")
        meta.update(
            {
                "kind": "tool_use",
                "tool_name": name,
                "tool_input": tinput,
                "tool_use_id": block.get("id"),
            }
        )
        return (
            "assistant",
            json.dumps(tinput, ensure_ascii=False, indent=2),
            _tool_summary(name, tinput),
        )
    if btype in ("image", "document"):
        content, media = media_meta(block.get("source"), str(btype))
        meta.update(media)
        return "assistant", content, content
    return "assistant", *_other_block(block, meta)


def _other_block(block: Block, meta: dict[str, object]) -> tuple[str, str]:
    content = f"[{block.get('type')}]"
    meta.update({"kind": "other", "block_type": block.get("type"), "block": block})
    return content, content


def _tool_summary(name: str, tool_input: object) -> str:
    if isinstance(tool_input, dict):
        for key in _TOOL_SUMMARY_KEYS:
            value = tool_input.get(key)
            if isinstance(value, str) and value.strip():
                return one_line(f"{name}: {value}")
    return name


def error_text(entry: Entry) -> str:
    """The message of an API error line's ``error``."""
    err = entry.get("error")
    if isinstance(err, str):
        return err
    if isinstance(err, dict):
        inner = err.get("error")
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])
        if isinstance(err.get("message"), str):
            return str(err["message"])
        return json.dumps(err, ensure_ascii=False)
    return "API error"


# --------------------------------------------------------------------------- user


@dataclass
class UserMessages:
    """The messages of a user line, and the plain prompt texts among them."""

    messages: list[ParsedMessage] = field(default_factory=list)
    prompt_parts: list[str] = field(default_factory=list)

    @property
    def prompt(self) -> str | None:
        """The line's prompt: its plain texts, stripped and joined, or None."""
        joined = "\n\n".join(p.strip() for p in self.prompt_parts if p.strip())
        return joined or None


def user_messages(entry: Entry, message: MessageBody, origin: Origin) -> UserMessages:
    """One message per block of a user line."""
    is_meta = entry.get("isMeta") is True
    compact = entry.get("isCompactSummary") is True
    out = UserMessages()
    blocks = blocks_of(message.get("content"))
    patch = _structured_patch(entry, blocks)
    parent = entry.get("parentUuid")
    for i, block in enumerate(blocks):
        meta = origin.meta()
        btype = block.get("type")
        if btype == "tool_result":
            if patch is not None:
                meta["structured_patch"] = patch
            out.messages.append(_tool_result(block, origin, i, meta))
            continue
        if isinstance(parent, str):
            # What the line answers: a prompt pointing further back is a rewind.
            meta["parent_uuid"] = parent
        if btype == "text":
            text = _text(block.get("text"))
            if compact:
                meta.update({"kind": "compaction", "event": "summary"})
                out.messages.append(origin.message(i, "system", text, "Compaction summary", meta))
                continue
            markup = classify_text(text)
            if markup is not None:
                meta["kind"] = markup.kind
                meta.update(markup.extra)
                if is_meta:
                    meta["is_meta"] = True
                summary = one_line(markup.content)
                out.messages.append(origin.message(i, markup.role, markup.content, summary, meta))
            elif is_meta:
                meta.update({"kind": "system", "subtype": "meta", "is_meta": True})
                out.messages.append(origin.message(i, "system", text, one_line(text), meta))
            else:
                meta["kind"] = "text"
                out.prompt_parts.append(text)
                out.messages.append(origin.message(i, "user", text, one_line(text), meta))
        elif btype in ("image", "document"):
            content, media = media_meta(block.get("source"), str(btype))
            meta.update(media)
            role = "system" if is_meta else "user"
            out.messages.append(origin.message(i, role, content, content, meta))
        else:
            content, summary = _other_block(block, meta)
            out.messages.append(origin.message(i, "user", content, summary, meta))
    return out


def _structured_patch(entry: Entry, blocks: list[Block]) -> list[JSONValue] | None:
    """The hunks of an Edit/MultiEdit/Write result, when the line holds exactly
    one tool result (so they are surely its own)."""
    result = entry.get("toolUseResult")
    patch = result.get("structuredPatch") if isinstance(result, dict) else None
    if not isinstance(patch, list) or not patch:
        return None
    if sum(1 for b in blocks if b.get("type") == "tool_result") != 1:
        return None
    return patch


def _tool_result(
    block: Block, origin: Origin, index: int, meta: dict[str, object]
) -> ParsedMessage:
    text, images = _flatten_result(block.get("content"))
    is_error = block.get("is_error") is True
    meta.update(
        {"kind": "tool_result", "tool_use_id": block.get("tool_use_id"), "is_error": is_error}
    )
    if images:
        meta["images"] = images
    summary = one_line(("error: " if is_error else "") + text) or (
        "error" if is_error else "(no output)"
    )
    return origin.message(index, "tool", text, summary, meta)


def _flatten_result(content: object) -> tuple[str, list[dict[str, object]]]:
    """Text of a tool_result's content, and the images it holds."""
    if content is None:
        return "", []
    if isinstance(content, str):
        return content, []
    if not isinstance(content, list):
        return json.dumps(content, ensure_ascii=False), []
    parts: list[str] = []
    images: list[dict[str, object]] = []
    for item in content:
        if isinstance(item, str):
            parts.append(item)
            continue
        if not isinstance(item, dict):
            continue
        itype = item.get("type")
        if itype == "text":
            parts.append(_text(item.get("text")))
        elif itype in ("image", "document"):
            placeholder, meta = media_meta(item.get("source"), str(itype))
            parts.append(placeholder)
            images.append(meta)
        elif itype == "tool_reference":
            parts.append(f"[tool: {item.get('tool_name', '?')}]")
        else:
            parts.append(f"[{itype}]")
    return "\n".join(parts), images


# -------------------------------------------------------------------------- media


def media_meta(source: object, kind: str) -> tuple[str, dict[str, object]]:
    """Placeholder content and meta of an image/document block from its
    ``source`` (base64 kept out of the content, in ``meta["data"]``)."""
    src: dict[str, JSONValue] = source if isinstance(source, dict) else {}
    media_type = str(src.get("media_type") or "application/octet-stream")
    meta: dict[str, object] = {"kind": kind, "media_type": media_type}
    data = src.get("data")
    if isinstance(data, str):
        meta["data"] = data
        size_kb = max(1, round(len(data) * 3 / 4 / 1024))
        return f"[{kind}: {media_type}, {size_kb} KB]", meta
    url = src.get("url")
    if isinstance(url, str):
        meta["url"] = url
    return f"[{kind}: {media_type}]", meta
