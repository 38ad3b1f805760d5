"""The admin's upload form and the session page's downloads."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

from flask import Blueprint, Response, abort, render_template, request, stream_with_context
from werkzeug.utils import secure_filename

from webapp.accounts import audit
from webapp.accounts.auth import Role, requires
from webapp.extensions import get_manager, get_queries
from webapp.times import describe_duration
from webapp.transfer.export import Redactor, Writer
from webapp.transfer.importer import Importer, ImportRefused
from webapp.transfer.report import retention_facts

bp = Blueprint("transfer", __name__)

RETENTION_CHOICES = (
    ("ask", "stop and tell me how many"),
    ("keep", "import them and mark their sessions kept"),
    ("accept", "import them; the next sweep purges them"),
)
UPLOAD_SUFFIXES = (".jsonl", ".json")


def _download(session_id: str, fmt: str, suffix: str, mimetype: str) -> Response:
    manager = get_manager()
    session = manager.get(session_id)
    if session is None:
        abort(404)
    writer = Writer(fmt, get_queries(), Redactor(request.args.get("redact") == "1"))
    now = manager.clock()

    def pieces() -> Iterator[str]:
        yield from writer.begin(now)
        yield from writer.session(session)
        yield from writer.end()

    name = secure_filename(session_id) or "session"
    return Response(
        stream_with_context(pieces()),
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="{name}.{suffix}"'},
    )


@bp.get("/sessions/<session_id:session_id>/export.md")
@requires(Role.VIEWER)
def session_markdown(session_id: str) -> Response:
    """The session as a Markdown transcript (``?redact=1`` hides secrets)."""
    return _download(session_id, "markdown", "md", "text/markdown")


@bp.get("/sessions/<session_id:session_id>/export.json")
@requires(Role.VIEWER)
def session_json(session_id: str) -> Response:
    """The session as a JSON export, with review data (``?redact=1`` hides secrets)."""
    return _download(session_id, "json", "json", "application/json")


@bp.route("/admin/import", methods=["GET", "POST"])
@requires(Role.ADMIN)
def upload() -> tuple[str, int]:
    """Upload transcripts to the importer; asks the retention question as the CLI does."""
    manager = get_manager()
    choice = request.form.get("retention", "ask")
    page = {
        "retention": describe_duration(manager.config.message_retention),
        "choices": RETENTION_CHOICES,
        "choice": choice if choice in dict(RETENTION_CHOICES) else "ask",
    }
    if request.method == "GET":
        return render_template("transfer/upload.html", **page), 200
    uploads = [f for f in request.files.getlist("files") if f.filename]
    if not uploads:
        return render_template("transfer/upload.html", error="Choose a file.", **page), 400
    with tempfile.TemporaryDirectory(prefix="sessionboard-upload-") as folder:
        names: dict[str, str] = {}
        for i, upload in enumerate(uploads):
            name = secure_filename(upload.filename or "")
            if not name.endswith(UPLOAD_SUFFIXES):
                error = f"{upload.filename}: only .jsonl transcripts and .json exports"
                return render_template("transfer/upload.html", error=error, **page), 400
            path = Path(folder) / f"{i}-{name}"
            upload.save(path)
            names[str(path.resolve())] = upload.filename or name
        importer = Importer(manager, keep=page["choice"] == "keep", remember=False)
        plans = importer.plan(names)
        for plan in plans:
            plan.label = names.get(plan.key, plan.path.name)
        try:
            check = importer.check_retention(plans)
            if check and page["choice"] == "ask":
                question = (
                    retention_facts(check, manager.config.message_retention)
                    + " Nothing was imported: choose what to do with them and upload again."
                )
                return render_template("transfer/upload.html", question=question, **page), 409
            summary = importer.run(plans)
        except ImportRefused as exc:
            error = f"{exc}. Nothing was imported."
            return render_template("transfer/upload.html", error=error, **page), 422
    audit.record(
        "import",
        detail={
            "files": [u.filename for u in uploads],
            "sessions_new": summary.sessions_new,
            "sessions_updated": summary.sessions_updated,
            "conflicts": len(summary.conflicts),
            "messages_added": summary.messages_added,
            "retention": page["choice"],
        },
    )
    return render_template("transfer/upload.html", summary=summary.describe(), **page), 200
