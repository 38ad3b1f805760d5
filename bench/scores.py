"""What the session list's rubric scores cost: a sort by score, its pages deep in
the scored part and in the unscored rest, and the score filters.

    .venv/bin/python bench/scores.py [--sessions 20000] [--scored 5000] [--database PATH]
                                     [--repeat 7]

Fills a SQLite database with the demo (``bench/pages.py``'s ``fill``, once), copies
it, and gives ``--scored`` sessions a 1-5 score from one or two reviewers (1.5
answers a session on average) on one criterion. Then, side by side in one run,
the median milliseconds of a 50-row page:

- the list by last activity, no filter: the floor;
- sorted by score (highest first): the top page, a page in the middle of the
  scored part, the page where the scored part ends, a page deep in the rest;
- filtered by an answer, by a range of the mean, by "not scored";
- the whole /sessions page (test client) with the score column and sort, beside
  the plain /sessions page (its floor).

A sort by score reads every answer to the criterion for each page (a mean is on
no index): its cost grows with ``--scored``, not with ``--sessions``.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from pages import fill  # noqa: E402  (bench/ is not a package)
from views import median_ms  # noqa: E402


def score(app: Any, scored: int) -> int:
    """A queue with a 1-5 criterion, and ``scored`` sessions answered on it; its id."""
    from sqlalchemy import insert

    from webapp.queues import service

    database = service.get_database()
    now = datetime.now(UTC)
    ids = [r.id for r in service.get_queries().list_sessions(limit=scored).rows]
    with database.write() as conn:
        view = conn.execute(
            insert(service.views_t)
            .values(name="all", owner="bench", shared=True, query="", created_at=now)
            .returning(service.views_t.c.id)
        ).scalar_one()
        queue = conn.execute(
            insert(service.queues_t)
            .values(name="bench", view_id=view, mode="claim", assignment_ttl=3600, turn=0,
                    created_by="bench", created_at=now)
            .returning(service.queues_t.c.id)
        ).scalar_one()  # fmt: skip
        criterion = conn.execute(
            insert(service.criteria_t)
            .values(queue_id=queue, position=1, label="Quality", kind="score", options="",
                    required=True)
            .returning(service.criteria_t.c.id)
        ).scalar_one()  # fmt: skip
        pick = random.Random(7)
        rows = []
        for sid in ids:
            for who in ("rita", "sam")[: pick.choice((1, 2))]:
                value = pick.randint(1, 5)
                rows.append({"criterion_id": criterion, "session_id": sid, "reviewer": who,
                             "value": str(value), "number": value, "at": now})  # fmt: skip
        conn.execute(insert(service.scores_t), rows)
    return int(criterion)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=20_000)
    parser.add_argument("--scored", type=int, default=5_000)
    parser.add_argument("--database", type=Path)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    demo = args.database or Path(tempfile.gettempdir()) / f"bench-views-{args.sessions}.db"
    fill(demo, args.sessions)
    database = demo.with_name(f"bench-scores-{args.sessions}-{args.scored}.db")
    shutil.copyfile(demo, database)
    os.environ.setdefault("SESSIONBOARD_INSTANCE_PATH", str(database.parent))

    from werkzeug.datastructures import MultiDict

    from webapp import create_app
    from webapp.accounts import service as accounts
    from webapp.extensions import get_queries
    from webapp.filters import parse_filters

    app = create_app(
        {"SECRET_KEY": "bench", "DATABASE_URL": str(database), "WTF_CSRF_ENABLED": False}
    )
    with app.app_context():
        accounts.create_user("scoresbench", "admin", "a long benchmark password", actor="bench")
        criterion = score(app, args.scored)
        total = sum(app.extensions["sessionboard.manager"].stats().values())
    print(f"{total} sessions, {args.scored} scored, in {database}; median of {args.repeat}\n")
    print(f"| {'50-row page':<44} | {'ms':>7} |")
    print(f"|{'-' * 46}|{'-' * 9}|")
    with app.test_request_context():
        reads = get_queries()

        def page(query: str, **at: Any) -> Callable[[], Any]:
            filters = parse_filters(MultiDict([p.split("=") for p in query.split("&") if p]))
            return lambda: reads.list_sessions(
                filters.to_filter(), sort=filters.read_sort(), ranking=filters.ranking(), **at
            )

        by_score = f"score={criterion}&sort=score"
        walked, position, pages = [], None, 0
        while True:  # every page position, walking down once
            found = page(by_score, older=position)()
            walked.append(position)
            pages += 1
            if found.older is None:
                break
            position = found.older
        ranked = [p for p in walked if p is not None and isinstance(p.at, int)]
        rest = [p for p in walked if p is not None and not isinstance(p.at, int)]
        cases = {
            "by activity, no filter (floor)": page(""),
            "by score: top": page(by_score),
            "by score: middle of the scored part": page(by_score, older=ranked[len(ranked) // 2]),
            "by score: where the scored part ends": page(by_score, older=ranked[-1]),
            "by score: deep in the unscored rest": page(by_score, older=rest[len(rest) // 2]),
            "by score: up from the rest's middle": page(by_score, newer=rest[len(rest) // 2]),
            "filter: answered 5": page(f"score={criterion}&score_value=5"),
            "filter: mean 3.5 to 4.5": page(f"score={criterion}&score_min=3.5&score_max=4.5"),
            "filter: not scored": page(f"score={criterion}&scored=no"),
        }
        for label, run in cases.items():
            print(f"| {label:<44} | {median_ms(run, args.repeat):>7.1f} |")
    client = app.test_client()
    client.post("/login", data={"name": "scoresbench", "password": "a long benchmark password"})
    for label, url in (("/sessions (floor)", "/sessions"),
                       ("/sessions, score column and sort", f"/sessions?{by_score}")):  # fmt: skip
        assert client.get(url).status_code == 200
        took = median_ms(lambda u=url: client.get(u).get_data(), args.repeat)
        print(f"| {label:<44} | {took:>7.1f} |")
    print(f"\n({pages} pages of 50 walked by score)")


if __name__ == "__main__":
    main()
