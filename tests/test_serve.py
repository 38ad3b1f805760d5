"""`sessionboard serve` for real: gunicorn workers, each with a sweeper thread,
of which exactly one sweeps per interval, and the pass that stores messages'
HTML; and a wheel that works when installed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from itertools import pairwise
from pathlib import Path

import pytest

from webapp.sessions import Manager, Message, MessageStore

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_serve_runs_workers_and_one_sweeper(sqlite_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "SESSIONBOARD_DATABASE_URL": sqlite_url,
        "SESSIONBOARD_INSTANCE_PATH": str(tmp_path),
        "SESSIONBOARD_SECRET_KEY": "test",
        "SESSIONBOARD_SWEEP_INTERVAL": "0.4s",
        "SESSIONBOARD_ADMIN_PASSWORD": "correct horse battery staple",
    }
    written = MessageStore(sqlite_url, migrate=False)
    session = Manager(store=written).create("x", expires_at=None)
    Manager(store=written).append_message(session.id, Message("assistant", "**stored** once"))
    (message,) = written.get_messages(session.id)
    written.close()
    server = subprocess.Popen(
        [str(BIN / "sessionboard"), "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    store = MessageStore(sqlite_url, migrate=False)
    try:
        deadline = time.monotonic() + 30
        status = None
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    status = r.status
                    break
            except OSError:
                time.sleep(0.2)
        assert status == 200
        while len(store.purge_log()) < 4 and time.monotonic() < deadline:
            time.sleep(0.1)
        log = list(reversed(store.purge_log()))
        assert len(log) >= 4
        gaps = [(b["ran_at"] - a["ran_at"]).total_seconds() for a, b in pairwise(log)]
        assert min(gaps) >= 0.4 * 0.95, f"two sweeps in one interval: {gaps}"
        holder_pids = {int(entry["holder"].split(":")[1]) for entry in log}
        assert server.pid not in holder_pids, "the master must not sweep; a worker does"
        assert message.id is not None
        while store.stored_render(message.id) is None and time.monotonic() < deadline:
            time.sleep(0.1)
        stored = store.stored_render(message.id)
        assert stored is not None and "<strong>stored</strong>" in stored["html"]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        _, err = server.communicate(timeout=30)
        store.close()
    assert "Booting worker" in err


@pytest.mark.slow
def test_installed_wheel_finds_templates_and_static(tmp_path: Path) -> None:
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "-w", str(tmp_path / "dist"), str(ROOT)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr
    (wheel,) = (tmp_path / "dist").glob("sessionboard-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        entry_points = next(n for n in names if n.endswith("entry_points.txt"))
        assert "sessionboard = webapp.__main__:main" in z.read(entry_points).decode()
    assert "webapp/templates/base.html" in names
    assert any(n.startswith("webapp/static/") for n in names)
    assert "webapp/migrations/versions/0001_initial.py" in names
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(site), str(wheel)],
        capture_output=True, check=True,
    )  # fmt: skip
    probe = (
        "import webapp, sys; from webapp import create_app; "
        f"app = create_app({{'SECRET_KEY': 'x', 'DATABASE_URL': {str(tmp_path / 'p.db')!r}}}); "
        "print(webapp.__file__); print(app.template_folder); print(app.static_folder); "
        "c = app.test_client(); r = c.get('/no-such-page'); print(r.status_code)"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(site), "SESSIONBOARD_INSTANCE_PATH": str(tmp_path)},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    module, templates, static, status = run.stdout.split()
    for path in (module, templates, static):
        assert path.startswith(str(site)), f"{path} is not from the installed wheel"
    assert Path(templates, "base.html").is_file()
    assert status == "404"
