"""Parse Claude Code transcripts into plain dataclasses.

Claude Code writes one JSON object per line to
``~/.claude/projects/<project>/<session-id>.jsonl`` (subagents: ``agent-<id>.jsonl``
beside it, or ``<session-id>/subagents/agent-<id>.jsonl``). This package turns such
files into :class:`ParsedSession` objects holding :class:`ParsedMessage` objects;
an importer stores them. It is pure standard library: no Flask, no database.

The package, one concern a module: ``shapes`` (TypedDicts of the JSONL lines),
``lines`` (reading lines with byte offsets, from a resume offset), ``classify``
(entry types, user-text markup), ``blocks`` and ``events`` (converting content
blocks and system/attachment/progress lines into messages), ``subagents``
(sidechains and their links, in one place), ``assemble`` (building a
:class:`ParsedSession`), ``parser`` (the passes over a file, the entry points)
and ``results`` (the returned dataclasses).

Rules chosen here (the format is undocumented; they were derived from real files):

* One content block is one message, in file order (whitespace-only text and
  empty, signature-only thinking blocks included). The file order is the
  ``parentUuid`` order and is chronological, so it is kept as is. Lines that
  are not blocks (hooks, system lines, attachments) are one message each.
* ``source_key`` is ``"<uuid>:<block index>"`` (``"L<byte offset>:<index>"`` for
  a line without uuid): stable across re-parses, unique within a session. A
  repeated uuid inside one session is skipped (``duplicate_uuid``).
* Split API responses: Claude Code writes one line per content block, every line
  repeating ``message.id`` and a ``usage`` snapshot. In the corpus the input and
  cache fields are identical on every line of a response while ``output_tokens``
  only grows (e.g. 4 -> 134, or 1 -> 1 -> 253), the last line holding the final
  count. So a response's usage is the per-field MAXIMUM over its lines, never a
  sum, and it is counted once in the session totals. It is put in
  ``meta["usage"]`` of the first message of the response; every message of the
  response carries ``meta["response_id"]``. Blocks are not reordered: tool
  results that Claude Code interleaves between blocks of one response stay where
  the file (and its ``parentUuid`` chain) puts them.
* Offset resume: ``parse_file(path, start_offset)`` re-reads the prefix only to
  rebuild state (uuid chains, response usage, subagent links, request, first
  timestamp) and emits messages only for lines that START at or after
  ``start_offset``. Session fields, context and token totals are whole-file
  values, so the importer may simply overwrite them; a response straddling the
  offset yields its new blocks (new keys) and no second usage count. What a new
  line teaches about a message emitted earlier (the final ``usage`` of a
  straddling response, the ``child_session_id`` of a Task/Agent call whose
  result just arrived) comes in ``ParsedSession.meta_updates`` (source_key ->
  meta keys to merge). A session is returned when one of its lines is new or
  it has updates. ``ParseStats`` counts only the new lines. A ``start_offset``
  past the end of the file (file replaced or truncated) restarts at 0 and is
  reported in ``ParseStats.offset_resets``.
* A line that does not decode to a JSON object, for any reason (syntax,
  encoding, ``NaN``, nesting deeper than 100 arrays/objects, which would
  otherwise raise ``RecursionError``), is skipped and counted
  (``malformed_json``); the file's other lines are read as usual.
* NUL characters and lone surrogates (``"\\u0000"``, ``"\\ud800"``) cannot be
  stored: every string of a line, keys included, has them replaced by U+FFFD
  before it is read, and ``ParseStats.replaced_characters`` counts them.
* A final line without ``\\n`` is consumed only if it decodes to a JSON object
  (a proper prefix of a serialized object never does); otherwise it is counted
  as ``truncated_last_line`` and ``end_offset`` stops before it.
* Subagents: sidechain lines with an ``agentId`` (v2 files ``agent-*.jsonl`` and
  ``subagents/*.jsonl``) become the child ``"<parent id>-agent-<agentId>"``;
  old in-file sidechains without agentId are grouped by the root of their
  ``parentUuid`` chain and become ``"<parent id>-sidechain-<16 hex of the root
  uuid>"``; an id longer than 64 characters is replaced by a hashed form. The
  parent's Task/Agent call is found through ``toolUseResult.agentId`` on its
  tool_result, else through the call's ``input.prompt`` equal to the child's
  first prompt. The parent's tool_use message, and the tool_result that reports
  the agentId, get ``meta["child_session_id"]`` from the parent file alone (ids
  are deterministic), the parent's context lists ``child_session_ids``, and the
  child gets ``parent_tool_use_id`` when both are parsed together (same file, or
  :func:`link_sessions` / :func:`parse_paths`). A child whose parent transcript
  is missing keeps ``parent_id`` (the sessionId its lines carry) anyway.
* Status is ``"failed"`` when the last assistant outcome of the session is an
  API error (``isApiErrorMessage`` true, or a ``<synthetic>`` message starting
  with ``API Error``, or a ``system``/``api_error`` retry line not followed by a
  real answer); the error text goes to ``ParsedSession.error``. Otherwise
  ``"completed"``.
* ``request`` is the first plain user prompt (not isMeta, not a slash command,
  bash-mode, local-command output, interrupt, caveat, IDE or system-reminder
  block, compact summary or tool_result). A session whose only human input is a
  slash command falls back to that command (``"/name args"``).
"""

from webapp.claude.transcript.blocks import SYNTHETIC_MODEL
from webapp.claude.transcript.parser import iter_transcript_files, parse_file, parse_paths
from webapp.claude.transcript.results import (
    MAX_SESSION_ID_LENGTH,
    TOKEN_FIELDS,
    ParsedMessage,
    ParsedSession,
    ParseResult,
    ParseStats,
    child_session_id,
)
from webapp.claude.transcript.subagents import link_sessions

__all__ = [
    "MAX_SESSION_ID_LENGTH",
    "SYNTHETIC_MODEL",
    "TOKEN_FIELDS",
    "ParseResult",
    "ParseStats",
    "ParsedMessage",
    "ParsedSession",
    "child_session_id",
    "iter_transcript_files",
    "link_sessions",
    "parse_file",
    "parse_paths",
]
