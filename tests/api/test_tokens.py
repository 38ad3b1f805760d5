"""API tokens: made, listed and revoked from the CLI; only a hash is kept;
compared in constant time; scopes."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest
from sqlalchemy import select

from webapp.accounts import tokens as token_service
from webapp.accounts.tokens import Scope, TokenError, tokens_t


def engine_of(app: Any) -> Any:
    return app.extensions["sessionboard.manager"].store.engine


def stored_rows(app: Any) -> list[dict[str, Any]]:
    with engine_of(app).connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(tokens_t))]


def test_create_token_prints_the_token_alone_and_stores_only_its_hash(
    app: Any, runner: Any
) -> None:
    result = runner.invoke(args=["create-token", "ci-runner"])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert result.stdout == token + "\n"
    assert token.startswith("sb_") and len(token) >= 40
    [row] = stored_rows(app)
    assert row["name"] == "ci-runner" and row["scope"] == "ingest"
    assert row["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert token not in repr(row)
    assert row["created_at"].tzinfo is not None
    assert row["last_used_at"] is None and row["revoked_at"] is None
    client = app.test_client()
    response = client.get("/api/v1/stats", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


def test_create_admin_token_and_refuse_a_taken_name_or_bad_scope(app: Any, runner: Any) -> None:
    result = runner.invoke(args=["create-token", "ops", "--scope", "admin"])
    assert result.exit_code == 0
    assert stored_rows(app)[0]["scope"] == "admin"
    taken = runner.invoke(args=["create-token", "ops"])
    assert taken.exit_code != 0 and "exists already" in taken.output
    assert taken.stdout == ""
    bad = runner.invoke(args=["create-token", "x", "--scope", "root"])
    assert bad.exit_code != 0
    assert len(stored_rows(app)) == 1


def test_list_and_revoke_tokens(app: Any, runner: Any) -> None:
    token = runner.invoke(args=["create-token", "alpha"]).stdout.strip()
    runner.invoke(args=["create-token", "beta", "--scope", "admin"])
    app.test_client().get("/api/v1/stats", headers={"Authorization": f"Bearer {token}"})
    listing = runner.invoke(args=["list-tokens"])
    assert listing.exit_code == 0
    lines = listing.output.splitlines()
    assert lines[0].split() == ["NAME", "SCOPE", "CREATED", "LAST", "USED", "REVOKED"]
    alpha = next(line for line in lines if line.startswith("alpha"))
    beta = next(line for line in lines if line.startswith("beta"))
    assert "ingest" in alpha and alpha.count("Z") == 2 and alpha.rstrip().endswith("-")
    assert "admin" in beta and beta.split()[-2:] == ["-", "-"]
    assert token not in listing.output
    revoked = runner.invoke(args=["revoke-token", "alpha"])
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    response = app.test_client().get("/api/v1/stats", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    again = runner.invoke(args=["revoke-token", "alpha"])
    assert again.exit_code != 0 and "no live token" in again.output
    unknown = runner.invoke(args=["revoke-token", "gamma"])
    assert unknown.exit_code != 0
    listing = runner.invoke(args=["list-tokens"]).output
    alpha = next(line for line in listing.splitlines() if line.startswith("alpha"))
    assert alpha.count("Z") == 3  # created, last used, revoked


def test_authenticate_compares_in_constant_time(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    info, token = token_service.create_token(engine_of(app), "t", Scope.INGEST)
    calls: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(token_service.hmac, "compare_digest", spy)
    got = token_service.authenticate(engine_of(app), token)
    assert got is not None and got.name == "t" and got.scope is Scope.INGEST
    assert calls == [(info_hash := hashlib.sha256(token.encode()).hexdigest(), info_hash)]


def test_authenticate_notes_last_use_at_most_once_a_minute(app: Any) -> None:
    from datetime import UTC, datetime, timedelta

    engine = engine_of(app)
    start = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    _, token = token_service.create_token(engine, "t", now=start)
    assert token_service.authenticate(engine, token, now=start) is not None
    assert stored_rows(app)[0]["last_used_at"] == start
    token_service.authenticate(engine, token, now=start + timedelta(seconds=30))
    assert stored_rows(app)[0]["last_used_at"] == start
    later = start + timedelta(minutes=2)
    token_service.authenticate(engine, token, now=later)
    assert stored_rows(app)[0]["last_used_at"] == later


def test_service_refuses_bad_names_and_unknown_tokens(app: Any) -> None:
    engine = engine_of(app)
    for name in ("", "   ", "x" * 101, "tab\there"):
        with pytest.raises(TokenError):
            token_service.create_token(engine, name)
    with pytest.raises(TokenError):
        token_service.create_token(engine, "ok", "superuser")
    assert token_service.authenticate(engine, "") is None
    assert token_service.authenticate(engine, "sb_" + "x" * 300) is None
    with pytest.raises(TokenError):
        token_service.revoke_token(engine, "nobody")
    assert token_service.list_tokens(engine) == []


def test_tokens_are_unique_and_random(app: Any) -> None:
    engine = engine_of(app)
    made = [token_service.create_token(engine, f"t{i}")[1] for i in range(20)]
    assert len(set(made)) == 20
    assert len({hashlib.sha256(t.encode()).hexdigest() for t in made}) == 20


def test_appends_take_their_token_from_the_cache(app: Any, api: Any, monkeypatch: Any) -> None:
    """After one lookup, an append does not look its token up again (the cache);
    other routes still do."""
    from webapp.api import auth

    session = api.new_session()
    path = f"/sessions/{session['id']}/messages"
    assert api.post(path, json={"role": "user", "content": "one"}).status_code == 201
    looked_up: list[str] = []
    real = auth.authenticate

    def counted(engine: Any, token: str, **kwargs: Any) -> Any:
        looked_up.append(token)
        return real(engine, token, **kwargs)

    monkeypatch.setattr(auth, "authenticate", counted)
    assert api.post(path, json={"role": "user", "content": "two"}).status_code == 201
    assert looked_up == []
    assert api.get(f"/sessions/{session['id']}").status_code == 200
    assert looked_up == [api.token]


def test_a_revoked_token_appends_nothing_at_once(app: Any, api: Any) -> None:
    """Revoked elsewhere (the CLI is another process: this one's cache is not
    told), a cached token's next append is 401 and writes nothing; a retry
    with an idempotency key the token used before is 401 too."""
    session = api.new_session()
    path = f"/sessions/{session['id']}/messages"
    first = api.post(
        path, json={"role": "user", "content": "one"}, headers={"Idempotency-Key": "k"}
    )
    assert first.status_code == 201
    token_service.revoke_token(engine_of(app), "runner")
    batch = {"messages": [{"role": "user", "content": "two"}, {"role": "user", "content": "3"}]}
    for headers in ({}, {"Idempotency-Key": "k"}, {"Idempotency-Key": "new"}):
        refused = api.post(path, json=batch, headers=headers)
        assert refused.status_code == 401, refused.get_json()
        assert "revoked" in refused.get_json()["error"]["message"]
    admin = api.as_admin()
    assert admin.get(f"/sessions/{session['id']}").get_json()["message_count"] == 1
    messages = admin.get(f"/sessions/{session['id']}/messages").get_json()["messages"]
    assert [m["content"] for m in messages] == ["one"]
    # and the token stays refused: it left the cache
    assert api.post(path, json=batch).status_code == 401


def test_a_cached_token_is_looked_up_again_after_a_minute(app: Any, api: Any) -> None:
    """The cache keeps an entry for at most LAST_USED_PRECISION, so last use is
    still noted about once a minute."""
    from datetime import timedelta

    from webapp.api import auth

    session = api.new_session()
    path = f"/sessions/{session['id']}/messages"
    assert api.post(path, json={"role": "user", "content": "one"}).status_code == 201
    cache = auth._cache_of(engine_of(app))
    digest = token_service.hash_token(api.token)
    info, at = cache.entries[digest]
    cache.entries[digest] = (info, at - token_service.LAST_USED_PRECISION - timedelta(seconds=1))
    assert api.post(path, json={"role": "user", "content": "two"}).status_code == 201
    assert cache.entries[digest][1] > at - timedelta(seconds=1)
