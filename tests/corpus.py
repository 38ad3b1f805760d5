"""The real Claude Code transcripts the tests read, kept in this repository.

``tests/data/corpus/claude-code`` (Claude Code 1.0 to 2.1.114) and
``tests/data/corpus/claude-code-2`` (2.1.6 to 2.1.217: compaction, plan mode,
titles, PR links, images in tool results) are byte-for-byte copies of public
transcripts; each folder's SOURCES.md and LICENSES.md say where every file comes
from and under which license. No test reads anything outside the repository.
"""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "corpus"
CORPUS = DATA / "claude-code"
CORPUS_2 = DATA / "claude-code-2"
