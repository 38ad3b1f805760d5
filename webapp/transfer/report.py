"""What an import tells a person: the summary of a run, and the retention question."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from webapp.claude.transcript import ParseStats
from webapp.times import describe_duration

#: Conflicts listed one a line in the summary; more are counted.
CONFLICTS_LISTED = 20


@dataclass
class RetentionCheck:
    """How much of an import the next sweep would purge: messages older than the
    retention window, and whole sessions whose imported times put them before it
    (``deleted_sessions``, counted in ``sessions`` too, their messages in ``messages``)."""

    messages: int = 0
    sessions: int = 0
    deleted_sessions: int = 0
    cutoff: datetime | None = None

    def __bool__(self) -> bool:
        """True when the next sweep would purge anything of the import."""
        return bool(self.messages or self.deleted_sessions)


@dataclass
class ImportSummary:
    """What a run did."""

    files: int = 0
    unchanged_files: int = 0
    sessions_new: int = 0
    sessions_updated: int = 0
    sessions_unchanged: int = 0
    messages_added: int = 0
    #: Records whose id was stored already: (session id, messages added to it).
    conflicts: list[tuple[str, int]] = field(default_factory=list)
    stats: ParseStats = field(default_factory=ParseStats)
    #: The files that had lines skipped: (name, lines skipped in it).
    skipped_files: list[tuple[str, int]] = field(default_factory=list)

    def describe(self) -> list[str]:
        """The summary a person reads: one fact a line."""
        lines = [
            f"files: {self.files} read, {self.unchanged_files} unchanged since the last import",
            f"sessions: {self.sessions_new} new, {self.sessions_updated} updated, "
            f"{self.sessions_unchanged} unchanged, {len(self.conflicts)} conflicts",
            f"messages added: {self.messages_added}",
        ]
        for session_id, added in self.conflicts[:CONFLICTS_LISTED]:
            lines.append(
                f"conflict: session {session_id} exists already: kept the stored session, "
                f"{added} message(s) added"
            )
        if len(self.conflicts) > CONFLICTS_LISTED:
            lines.append(f"conflicts not listed: {len(self.conflicts) - CONFLICTS_LISTED}")
        skipped = self.stats.lines_skipped
        if skipped:
            why = ", ".join(f"{reason} {n}" for reason, n in sorted(skipped.items()))
            where = ", ".join(f"{name} {n}" for name, n in self.skipped_files)
            lines.append(f"lines skipped: {sum(skipped.values())} ({why}) in {where}")
        else:
            lines.append("lines skipped: 0")
        for label, paths in (
            ("empty files (skipped)", self.stats.empty_files),
            ("unreadable files", self.stats.unreadable_files),
            ("files read again from the start (shorter than before)", self.stats.offset_resets),
        ):
            if paths:
                lines.append(f"{label}: {len(paths)}: " + ", ".join(paths))
        return lines


def retention_facts(check: RetentionCheck, retention: timedelta) -> str:
    """What the next sweep would purge of an import, in a sentence."""
    window = describe_duration(retention)
    facts = (
        f"{check.messages} imported message(s) in {check.sessions} session(s) are older than "
        f"the retention window ({window}): the next sweep would purge them."
    )
    if check.deleted_sessions:
        facts += (
            f" {check.deleted_sessions} of these session(s) were last active before the "
            "window: the next sweep would delete them whole."
        )
    return facts
