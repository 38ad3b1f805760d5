"""What each tool call shows: one view per kind of tool, computed from the call's
input and its results (pure; the templates in ``templates/transcript/tools/``
and the Markdown export draw them).

* Edit, MultiEdit, Write: a unified diff (``structured_patch`` of the result when
  the importer kept it, else the call's own old and new text).
* Bash (and BashOutput): the command, its output in monospace, the exit status.
* Read, Grep, Glob, LS: the path or pattern, the result folded.
* TodoWrite, TaskCreate, TaskUpdate: a checklist.
* WebFetch, WebSearch: the URL or query.
* Task, Agent: the subagent's description, prompt and report.
* Anything else (MCP tools, unknown tools): the input as pretty JSON.

Outputs lose ANSI escapes and the ``<tool_use_error>`` tags Claude Code wraps
errors in; everything else is kept as written (and escaped by the templates).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from webapp.transcript.diff import DiffRow, edit_rows, patch_rows, write_rows

__all__ = [
    "FOLD_LINES",
    "AgentView",
    "BashView",
    "ChecklistItem",
    "ChecklistView",
    "DiffView",
    "JsonView",
    "LookupView",
    "OutputText",
    "ToolView",
    "WebView",
    "clean_output",
    "tool_view",
]

#: Outputs and diffs longer than this many lines are folded.
FOLD_LINES = 40
#: Lines of a folded output shown before "show all".
HEAD_LINES = 12

_ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
_TOOL_ERROR_TAG_RE = re.compile(r"</?tool_use_error>")
_EXIT_CODE_RE = re.compile(r"\AExit code (-?\d+)\n?")
_SAFE_URL_RE = re.compile(r"\Ahttps?://", re.IGNORECASE)

DIFF_TOOLS = frozenset({"Edit", "MultiEdit", "Write", "NotebookEdit"})
SHELL_TOOLS = frozenset({"Bash", "BashOutput", "KillShell", "KillBash"})
LOOKUP_TOOLS = frozenset({"Read", "Grep", "Glob", "LS", "NotebookRead", "ToolSearch", "Skill"})
CHECKLIST_TOOLS = frozenset({"TodoWrite", "TaskCreate", "TaskUpdate"})
WEB_TOOLS = frozenset({"WebFetch", "WebSearch"})
AGENT_TOOLS = frozenset({"Task", "Agent"})


def clean_output(text: str) -> str:
    """A tool's output as a reader should see it: no ANSI escapes, no
    ``<tool_use_error>`` tags, no trailing blank lines."""
    return _TOOL_ERROR_TAG_RE.sub("", _ANSI_RE.sub("", text)).rstrip()


@dataclass(frozen=True)
class OutputText:
    """Monospace text that keeps its line breaks; folded past :data:`FOLD_LINES`."""

    text: str

    @property
    def lines(self) -> list[str]:
        """Its lines."""
        return self.text.split("\n") if self.text else []

    @property
    def line_count(self) -> int:
        """How many lines it has."""
        return len(self.lines)

    @property
    def folded(self) -> bool:
        """Whether only its head is shown at first."""
        return self.line_count > FOLD_LINES

    @property
    def head(self) -> str:
        """What is shown at first."""
        return "\n".join(self.lines[:HEAD_LINES]) if self.folded else self.text

    @property
    def rest(self) -> str:
        """What "show all" adds."""
        return "\n".join(self.lines[HEAD_LINES:]) if self.folded else ""

    def __bool__(self) -> bool:
        return bool(self.text.strip())


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _output(results: Sequence[str]) -> OutputText:
    return OutputText("\n".join(clean_output(r) for r in results if r.strip()))


@dataclass(frozen=True)
class JsonView:
    """Any tool: its input as pretty JSON, its output folded."""

    input: Any
    output: OutputText
    renderer: ClassVar[str] = "json"

    @property
    def summary(self) -> str:
        """One line naming what the call was about."""
        return _first_string(self.input)


@dataclass(frozen=True)
class BashView:
    """A shell command, its output in monospace and how it ended."""

    command: str
    description: str
    output: OutputText
    exit_status: int | None
    background: bool = False
    renderer: ClassVar[str] = "bash"

    @property
    def summary(self) -> str:
        """The command's first line."""
        return self.command.split("\n", 1)[0]


@dataclass(frozen=True)
class DiffView:
    """A file edit as a unified diff."""

    path: str
    action: str  # "edit", "write" or "multiedit"
    rows: list[DiffRow]
    output: OutputText
    renderer: ClassVar[str] = "diff"

    @property
    def summary(self) -> str:
        """The file's path."""
        return self.path

    @property
    def added(self) -> int:
        """Lines added."""
        return sum(1 for r in self.rows if r.sign == "+")

    @property
    def removed(self) -> int:
        """Lines removed."""
        return sum(1 for r in self.rows if r.sign == "-")

    @property
    def numbered(self) -> bool:
        """Whether the rows carry the file's line numbers."""
        return any(r.old_no is not None or r.new_no is not None for r in self.rows)

    @property
    def folded(self) -> bool:
        """Whether only the first rows are shown at first."""
        return len(self.rows) > FOLD_LINES

    @property
    def head(self) -> list[DiffRow]:
        """The rows shown at first."""
        return self.rows[:HEAD_LINES] if self.folded else self.rows

    @property
    def rest(self) -> list[DiffRow]:
        """The rows "show all" adds."""
        return self.rows[HEAD_LINES:] if self.folded else []


@dataclass(frozen=True)
class LookupView:
    """A read or a search: what was looked at, the result folded."""

    target: str
    detail: str
    output: OutputText
    renderer: ClassVar[str] = "lookup"

    @property
    def summary(self) -> str:
        """The path or pattern."""
        return self.target


@dataclass(frozen=True)
class ChecklistItem:
    """A to-do or task: ``status`` is ``pending``, ``in_progress``, ``completed``..."""

    text: str
    status: str
    ref: str = ""


@dataclass(frozen=True)
class ChecklistView:
    """A to-do list or task change as a checklist."""

    items: list[ChecklistItem]
    output: OutputText
    renderer: ClassVar[str] = "checklist"

    @property
    def summary(self) -> str:
        """How many items are done."""
        done = sum(1 for i in self.items if i.status == "completed")
        if len(self.items) == 1:
            item = self.items[0]
            return f"{item.ref} {item.text}".strip()
        return f"{done}/{len(self.items)} done"


@dataclass(frozen=True)
class WebView:
    """A fetch or a search of the web."""

    url: str
    query: str
    prompt: str
    output: OutputText
    renderer: ClassVar[str] = "web"

    @property
    def link(self) -> str:
        """The URL when it is safe to link (http or https), else ''."""
        return self.url if _SAFE_URL_RE.match(self.url) else ""

    @property
    def summary(self) -> str:
        """The URL or the query."""
        return self.url or self.query


@dataclass(frozen=True)
class AgentView:
    """A subagent: what it was asked, and its report."""

    description: str
    agent_type: str
    name: str
    prompt: str
    report: str
    renderer: ClassVar[str] = "agent"
    output: OutputText = field(default_factory=lambda: OutputText(""))

    @property
    def summary(self) -> str:
        """The task's description."""
        return self.description or self.name or self.agent_type


ToolView = JsonView | BashView | DiffView | LookupView | ChecklistView | WebView | AgentView


def _first_string(value: Any) -> str:
    if isinstance(value, Mapping):
        for v in value.values():
            if isinstance(v, str) and v.strip():
                return v.split("\n", 1)[0]
    return ""


def _bash(
    tool_input: Mapping[str, Any], results: Sequence[str], answered: bool, error: bool
) -> BashView:
    text = "\n".join(r for r in results if r.strip())
    status: int | None = None
    found = _EXIT_CODE_RE.match(text)
    if found:
        status = int(found.group(1))
        text = text[found.end() :]
    elif answered and not error:
        status = 0
    command = (
        _text(tool_input.get("command"))
        or _text(tool_input.get("bash_id"))
        or _text(tool_input.get("shell_id"))
    )
    return BashView(
        command=command,
        description=_text(tool_input.get("description")),
        output=OutputText(clean_output(text)),
        exit_status=status,
        background=tool_input.get("run_in_background") is True,
    )


def _diff(
    name: str, tool_input: Mapping[str, Any], metas: Sequence[Mapping[str, Any]], output: OutputText
) -> DiffView:
    path = _text(tool_input.get("file_path")) or _text(tool_input.get("notebook_path"))
    for meta in metas:
        rows = patch_rows(meta.get("structured_patch"))
        if rows:
            return DiffView(path, name.lower(), rows, output)
    if name == "Write":
        return DiffView(path, "write", write_rows(_text(tool_input.get("content"))), output)
    if name == "MultiEdit" and isinstance(tool_input.get("edits"), list):
        rows = []
        for edit in tool_input["edits"]:
            if isinstance(edit, Mapping):
                rows.append(DiffRow("@", "@@ edit @@"))
                rows.extend(edit_rows(_text(edit.get("old_string")), _text(edit.get("new_string"))))
        return DiffView(path, "multiedit", rows, output)
    old = _text(tool_input.get("old_string")) or _text(tool_input.get("old_source"))
    new = _text(tool_input.get("new_string")) or _text(tool_input.get("new_source"))
    return DiffView(path, "edit", edit_rows(old, new), output)


def _lookup(name: str, tool_input: Mapping[str, Any], output: OutputText) -> LookupView:
    target = (
        _text(tool_input.get("file_path"))
        or _text(tool_input.get("notebook_path"))
        or _text(tool_input.get("pattern"))
        or _text(tool_input.get("path"))
        or _text(tool_input.get("query"))
        or _text(tool_input.get("skill"))
    )
    details: list[str] = []
    if name in ("Grep", "Glob") and _text(tool_input.get("path")) and target != tool_input["path"]:
        details.append(f"in {tool_input['path']}")
    for key in ("glob", "type", "output_mode"):
        if _text(tool_input.get(key)):
            details.append(f"{key} {tool_input[key]}")
    offset, limit = tool_input.get("offset"), tool_input.get("limit")
    if isinstance(offset, int) or isinstance(limit, int):
        start = offset if isinstance(offset, int) else 1
        details.append(
            f"lines {start}–{start + limit - 1}" if isinstance(limit, int) else f"from line {start}"
        )
    return LookupView(target, ", ".join(details), output)


def _checklist(name: str, tool_input: Mapping[str, Any], output: OutputText) -> ChecklistView:
    items: list[ChecklistItem] = []
    if name == "TodoWrite":
        todos = tool_input.get("todos")
        for todo in todos if isinstance(todos, list) else []:
            if isinstance(todo, Mapping):
                items.append(
                    ChecklistItem(
                        _text(todo.get("content")) or _text(todo.get("activeForm")),
                        _text(todo.get("status")) or "pending",
                    )
                )
    elif name == "TaskCreate":
        created = re.search(r"#(\d+)", output.text)
        items.append(
            ChecklistItem(
                _text(tool_input.get("subject")) or _text(tool_input.get("description")),
                "pending",
                f"#{created.group(1)}" if created else "new",
            )
        )
    else:
        task = tool_input.get("taskId")
        fields = [f"{k} {v}" for k, v in tool_input.items() if k not in ("taskId", "status")]
        items.append(
            ChecklistItem(
                _text(tool_input.get("subject")) or ", ".join(str(f) for f in fields),
                _text(tool_input.get("status")) or "updated",
                f"#{task}" if isinstance(task, str | int) else "",
            )
        )
    return ChecklistView(items, output)


def _agent(tool_input: Mapping[str, Any], results: Sequence[str]) -> AgentView:
    return AgentView(
        description=_text(tool_input.get("description")),
        agent_type=_text(tool_input.get("subagent_type")),
        name=_text(tool_input.get("name")),
        prompt=_text(tool_input.get("prompt")),
        report="\n\n".join(clean_output(r) for r in results if r.strip()),
    )


def tool_view(
    name: str,
    tool_input: Any,
    results: Sequence[str],
    metas: Sequence[Mapping[str, Any]],
    *,
    answered: bool,
    is_error: bool,
) -> ToolView:
    """The view of one call of tool ``name`` with ``tool_input`` and the contents
    and metas of its results."""
    output = _output(results)
    if not isinstance(tool_input, Mapping):
        return JsonView(tool_input, output)
    if name in SHELL_TOOLS:
        return _bash(tool_input, results, answered, is_error)
    if name in DIFF_TOOLS:
        return _diff(name, tool_input, metas, output)
    if name in LOOKUP_TOOLS:
        return _lookup(name, tool_input, output)
    if name in CHECKLIST_TOOLS:
        return _checklist(name, tool_input, output)
    if name in WEB_TOOLS:
        return WebView(
            _text(tool_input.get("url")),
            _text(tool_input.get("query")),
            _text(tool_input.get("prompt")),
            output,
        )
    if name in AGENT_TOOLS:
        return _agent(tool_input, results)
    return JsonView(tool_input, output)
