"""Claude Code transcripts: a pure parser and a secret redactor (stdlib only)."""

from webapp.claude.redact import redact, redact_value
from webapp.claude.transcript import (
    ParsedMessage,
    ParsedSession,
    ParseResult,
    ParseStats,
    child_session_id,
    iter_transcript_files,
    link_sessions,
    parse_file,
    parse_paths,
)

__all__ = [
    "ParseResult",
    "ParseStats",
    "ParsedMessage",
    "ParsedSession",
    "child_session_id",
    "iter_transcript_files",
    "link_sessions",
    "parse_file",
    "parse_paths",
    "redact",
    "redact_value",
]
