"""Tests of webapp.claude.redact.

The fake secrets are generated here (deterministically, from sha256) rather than
written out, so that no realistic key literal sits in the repository; each case
states its expected output.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import string
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from tests.corpus import CORPUS  # noqa: E402
from webapp.claude.redact import redact, redact_value  # noqa: E402

DATA = Path(__file__).resolve().parent / "data" / "secrets"

ALNUM = string.ascii_letters + string.digits
UPPER_ALNUM = string.ascii_uppercase + string.digits
B64 = ALNUM + "+/"


def fake(seed: str, n: int, alphabet: str = ALNUM) -> str:
    """n characters from ``alphabet``, always the same for the same seed."""
    out: list[str] = []
    counter = 0
    while len(out) < n:
        digest = hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        out.extend(alphabet[b % len(alphabet)] for b in digest)
        counter += 1
    return "".join(out[:n])


def r(kind: str) -> str:
    return f"[REDACTED:{kind}]"


ANTHROPIC = "sk-" + "ant-api03-" + fake("ant", 93, ALNUM + "-_") + "AA"
OPENAI_LEGACY = "sk-" + fake("oai", 20) + "T3Blbk" + "FJ" + fake("oai2", 20)
OPENAI_PROJECT = "sk-" + "proj-" + fake("proj", 156, ALNUM + "-_")
AWS_ID = "AK" + "IA" + fake("awsid", 16, UPPER_ALNUM)
AWS_SECRET = fake("awssecret", 40, B64)
GITHUB_PAT_CLASSIC = "gh" + "p_" + fake("ghp", 36)
GITHUB_APP = "gh" + "s_" + fake("ghs", 36)
GITHUB_OAUTH = "gh" + "o_" + fake("gho", 36)
GITHUB_FINE = "github" + "_pat_" + fake("fine1", 22) + "_" + fake("fine2", 59)
GITLAB = "gl" + "pat-" + fake("glpat", 20, ALNUM + "-_")
SLACK_BOT = (
    "xo"
    + "xb-"
    + fake("s1", 12, string.digits)
    + "-"
    + fake("s2", 13, string.digits)
    + ("-" + fake("s3", 24))
)
SLACK_USER = "xo" + "xp-" + fake("u1", 12, string.digits) + "-" + fake("u2", 32)
SLACK_HOOK = (
    "https://hooks.slack.com/services/T"
    + fake("t", 8, UPPER_ALNUM)
    + "/B"
    + fake("b", 10, UPPER_ALNUM)
    + "/"
    + fake("h", 24)
)
STRIPE_SECRET = "sk" + "_live_" + fake("stripe", 99)
STRIPE_RESTRICTED = "rk" + "_live_" + fake("rk", 99)
STRIPE_TEST = "sk" + "_test_" + fake("stest", 24)
STRIPE_PUBLISHABLE = "pk" + "_live_" + fake("pk", 99)
GOOGLE = "AI" + "za" + fake("google", 35, ALNUM + "-_")
NPM = "np" + "m_" + fake("npm", 36)


def _b64url(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


JWT = ".".join(
    [
        _b64url({"alg": "HS256", "typ": "JWT"}),
        _b64url({"sub": "1234567890", "name": "Jane", "iat": 1717000000}),
        fake("sig", 43, ALNUM + "-_"),
    ]
)
OPAQUE = fake("opaque", 40, ALNUM + "-._~")
BASIC = base64.b64encode(b"deploy:" + fake("basic", 16).encode()).decode()
PASSWORD = fake("pw", 14, ALNUM + "!%^*")
RSA_BODY = "\n".join(fake(f"rsa{i}", 64, B64) for i in range(6))
PEM_RSA = f"-----BEGIN RSA PRIVATE KEY-----\n{RSA_BODY}\n-----END RSA PRIVATE KEY-----"
PEM_OPENSSH = f"-----BEGIN OPENSSH PRIVATE KEY-----\n{RSA_BODY}\n-----END OPENSSH PRIVATE KEY-----"
PEM_PKCS8_ENCRYPTED = (
    f"-----BEGIN ENCRYPTED PRIVATE KEY-----\n{RSA_BODY}\n-----END ENCRYPTED PRIVATE KEY-----"
)
PGP = (
    "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n"
    f"{RSA_BODY}\n=AbCd\n-----END PGP PRIVATE KEY BLOCK-----"
)
PUBLIC_CERT = f"-----BEGIN CERTIFICATE-----\n{RSA_BODY}\n-----END CERTIFICATE-----"

CAUGHT: list[tuple[str, str, str]] = [
    # (id, input, expected)
    (
        "anthropic-env",
        f"export ANTHROPIC_API_KEY={ANTHROPIC}",
        f"export ANTHROPIC_API_KEY={r('anthropic_key')}",
    ),
    ("anthropic-header", f"x-api-key: {ANTHROPIC}", f"x-api-key: {r('anthropic_key')}"),
    ("openai-legacy", f"key: {OPENAI_LEGACY}", f"key: {r('openai_key')}"),
    (
        "openai-project-kwarg",
        f'client = OpenAI(api_key="{OPENAI_PROJECT}")',
        f'client = OpenAI(api_key="{r("openai_key")}")',
    ),
    (
        "aws-access-key-id",
        f"aws_access_key_id = {AWS_ID}",
        f"aws_access_key_id = {r('aws_access_key_id')}",
    ),
    (
        "aws-id-in-prose",
        f"The key {AWS_ID} was rotated.",
        f"The key {r('aws_access_key_id')} was rotated.",
    ),
    (
        "aws-secret-ini",
        f"aws_secret_access_key = {AWS_SECRET}",
        f"aws_secret_access_key = {r('aws_secret_key')}",
    ),
    (
        "aws-secret-env",
        f"AWS_SECRET_ACCESS_KEY={AWS_SECRET}",
        f"AWS_SECRET_ACCESS_KEY={r('aws_secret_key')}",
    ),
    (
        "aws-secret-json",
        f'"SecretAccessKey": "{AWS_SECRET}"',
        f'"SecretAccessKey": "{r("aws_secret_key")}"',
    ),
    (
        "github-classic-in-url",
        f"git push https://{GITHUB_PAT_CLASSIC}@github.com/o/r.git",
        f"git push https://{r('github_token')}@github.com/o/r.git",
    ),
    ("github-app", f"GH_TOKEN={GITHUB_APP} gh pr list", f"GH_TOKEN={r('github_token')} gh pr list"),
    ("github-oauth", f"oauth token {GITHUB_OAUTH}", f"oauth token {r('github_token')}"),
    ("github-fine-grained", f"token: {GITHUB_FINE}", f"token: {r('github_token')}"),
    (
        "gitlab-url-password",
        f"https://oauth2:{GITLAB}@gitlab.com/g/p.git",
        f"https://oauth2:{r('gitlab_token')}@gitlab.com/g/p.git",
    ),
    ("slack-bot", f'SLACK_BOT_TOKEN="{SLACK_BOT}"', f'SLACK_BOT_TOKEN="{r("slack_token")}"'),
    ("slack-user", f"token={SLACK_USER}&channel=C123", f"token={r('slack_token')}&channel=C123"),
    ("slack-webhook", f"curl -X POST {SLACK_HOOK}", f"curl -X POST {r('slack_webhook')}"),
    (
        "stripe-secret",
        f"stripe.api_key = '{STRIPE_SECRET}'",
        f"stripe.api_key = '{r('stripe_key')}'",
    ),
    ("stripe-restricted", f"STRIPE_KEY={STRIPE_RESTRICTED}", f"STRIPE_KEY={r('stripe_key')}"),
    ("stripe-test", f"using {STRIPE_TEST} in CI", f"using {r('stripe_key')} in CI"),
    (
        "google-in-url",
        f"https://maps.googleapis.com/maps/api/js?key={GOOGLE}&v=3",
        f"https://maps.googleapis.com/maps/api/js?key={r('google_api_key')}&v=3",
    ),
    (
        "npm-npmrc",
        f"//registry.npmjs.org/:_authToken={NPM}",
        f"//registry.npmjs.org/:_authToken={r('npm_token')}",
    ),
    ("jwt-cookie", f"Cookie: session={JWT}; Path=/", f"Cookie: session={r('jwt')}; Path=/"),
    (
        "authorization-bearer",
        f'curl -H "Authorization: Bearer {OPAQUE}" https://api.example.com',
        f'curl -H "Authorization: Bearer {r("bearer_token")}" https://api.example.com',
    ),
    ("authorization-jwt", f"Authorization: Bearer {JWT}", f"Authorization: Bearer {r('jwt')}"),
    (
        "authorization-basic",
        f"Authorization: Basic {BASIC}",
        f"Authorization: Basic {r('basic_auth')}",
    ),
    (
        "authorization-json",
        f'"headers": {{"authorization": "token {OPAQUE}"}}',
        f'"headers": {{"authorization": "token {r("bearer_token")}"}}',
    ),
    (
        "bare-bearer",
        f"then send bearer {OPAQUE} with it",
        f"then send bearer {r('bearer_token')} with it",
    ),
    ("pem-rsa", f"key:\n{PEM_RSA}\nend", f"key:\n{r('private_key')}\nend"),
    (
        "pem-openssh",
        f"$ cat ~/.ssh/id_ed25519\n{PEM_OPENSSH}\n$ ",
        f"$ cat ~/.ssh/id_ed25519\n{r('private_key')}\n$ ",
    ),
    ("pem-pkcs8-encrypted", PEM_PKCS8_ENCRYPTED, r("private_key")),
    (
        "pem-json-escaped",
        json.dumps({"content": PEM_RSA}),
        json.dumps({"content": r("private_key")}),
    ),
    (
        "pem-truncated",
        f"$ head -3 key.pem\n{PEM_RSA.split(chr(10) + RSA_BODY[-64:])[0][:150]}",
        f"$ head -3 key.pem\n{r('private_key')}",
    ),
    (
        "pem-truncated-json-escaped",
        json.dumps({"stdout": "-----BEGIN RSA PRIVATE KEY-----\n" + RSA_BODY[:100]}),
        json.dumps({"stdout": r("private_key")}),
    ),
    (
        "pem-truncated-encrypted",
        "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,"
        f"0A1B2C3D4E5F\n\n{RSA_BODY[:100]}",
        r("private_key"),
    ),
    (
        "pem-truncated-then-prose",
        f"{PEM_RSA[:120]}\n\nThat was the key.",
        f"{r('private_key')}\n\nThat was the key.",
    ),
    ("pgp", f"exported:\n{PGP}", f"exported:\n{r('private_key')}"),
    (
        "url-postgres",
        f"DATABASE_URL=postgres://app:{PASSWORD}@db.internal:5432/app",
        f"DATABASE_URL=postgres://app:{r('url_password')}@db.internal:5432/app",
    ),
    (
        "url-redis-no-user",
        f"redis://:{PASSWORD}@cache:6379/0",
        f"redis://:{r('url_password')}@cache:6379/0",
    ),
    (
        "url-mongodb-srv",
        f"mongodb+srv://admin:{PASSWORD}@cluster0.example.net/?w=majority",
        f"mongodb+srv://admin:{r('url_password')}@cluster0.example.net/?w=majority",
    ),
    (
        "url-in-prose",
        f"connect with amqp://guest:{PASSWORD}@mq.local:5672 please",
        f"connect with amqp://guest:{r('url_password')}@mq.local:5672 please",
    ),
    ("env-password", f"PASSWORD={PASSWORD}", f"PASSWORD={r('password')}"),
    ("env-db-password-quoted", f'DB_PASSWORD="{PASSWORD}"', f'DB_PASSWORD="{r("password")}"'),
    (
        "env-secret-key-single-quoted",
        "SECRET_KEY='django-insecure-8x#k2!p'",
        f"SECRET_KEY='{r('secret')}'",
    ),
    ("env-api-key", "API_KEY=3f9a1c77e2b04d5f", f"API_KEY={r('secret')}"),
    (
        "env-star-key",
        "ENCRYPTION_KEY=0123456789abcdef0123456789abcdef",
        f"ENCRYPTION_KEY={r('secret')}",
    ),
    (
        "env-webhook-secret",
        "STRIPE_WEBHOOK_SECRET=whsec_a1b2c3d4e5f6",
        f"STRIPE_WEBHOOK_SECRET={r('secret')}",
    ),
    (
        "env-export-token",
        "export VAULT_TOKEN=hvs.CAESIJ9x2k && vault status",
        f"export VAULT_TOKEN={r('secret')} && vault status",
    ),
    ("env-comment", "DB_PASS=tr0ub4dor # prod", f"DB_PASS={r('password')} # prod"),
    (
        "cli-flag",
        "mysql --user=root --password=s3cr3tpw db",
        f"mysql --user=root --password={r('password')} db",
    ),
    ("env-lowercase-literal", "db_password=hunter22", f"db_password={r('password')}"),
    (
        "env-in-json-string",
        json.dumps({"command": "API_TOKEN=abc123def456 ./deploy.sh\nls"}),
        json.dumps({"command": f"API_TOKEN={r('secret')} ./deploy.sh\nls"}),
    ),
    (
        "json-password",
        f'{{"username": "admin", "password": "{PASSWORD}"}}',
        f'{{"username": "admin", "password": "{r("password")}"}}',
    ),
    (
        "json-client-secret",
        '"clientSecret": "9f8e7d6c5b4a3210"',
        f'"clientSecret": "{r("secret")}"',
    ),
    (
        "python-literal",
        'password = "correct horse battery staple"',
        f'password = "{r("password")}"',
    ),
    (
        "python-kwarg-literal",
        'connect(host="db", password="Tr0ub4dor&3")',
        f'connect(host="db", password="{r("password")}")',
    ),
    (
        "js-const",
        "const apiKey = 'a8f5f167f44f4964e6c998dee827110c';",
        f"const apiKey = '{r('secret')}';",
    ),
    (
        "yaml",
        "database:\n  password: Sup3rS3cret!\n  user: app",
        f"database:\n  password: {r('password')}\n  user: app",
    ),
    (
        "ini-spaced",
        "[db]\npassword = Sup3rS3cret9\nhost = db",
        f"[db]\npassword = {r('password')}\nhost = db",
    ),
    ("http-header", "X-Api-Key: 9f8e7d6c5b4a", f"X-Api-Key: {r('secret')}"),
    (
        "several",
        f"A={AWS_ID} B={GITHUB_APP}\nPASSWORD={PASSWORD}",
        f"A={r('aws_access_key_id')} B={r('github_token')}\nPASSWORD={r('password')}",
    ),
]

LEFT_ALONE: list[tuple[str, str]] = [
    ("prose-password", "The password must be at least 12 characters."),
    ("prose-token", "Set the token in your environment, then restart."),
    ("prose-bearer", "Bearer authentication is described in RFC 6750."),
    ("git-sha", "commit 3f2a9c1e5b7d4f6a8c0e2b4d6f8a0c2e4b6d8f0a"),
    ("short-sha", "Merge: 04752c6 1b6c52f"),
    ("uuid", "session 123e4567-e89b-12d3-a456-426614174000 started"),
    ("sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    ("url", "https://github.com/anthropics/claude-code/issues/123?tab=comments"),
    ("url-user-only", "https://user@example.com/path/to/repo.git"),
    ("url-port", "https://example.com:8443/a/b?page=2&sort=desc"),
    ("scp-git", "git@github.com:org/repo.git"),
    ("url-password-reference", "postgres://app:${DB_PASSWORD}@db.internal:5432/app"),
    ("input", 'password = input("Password: ")'),
    ("getpass", "password = getpass.getpass()"),
    ("environ", 'token = os.environ["GITHUB_TOKEN"]'),
    ("settings", "api_key = settings.OPENAI_API_KEY"),
    ("kwarg-variable", "client = Anthropic(api_key=api_key)"),
    ("kwarg-variable-multiline", "client = Anthropic(\n    api_key=api_key\n)"),
    ("call", 'secret = load_secret(name="db")'),
    ("annotation", "def login(username: str, password: str) -> Token:"),
    ("annotation-default", "    token: str | None = None"),
    ("primary-key", "id = Column(Integer, primary_key=True)"),
    ("sort-key", "rows.sort(key=lambda r: r.name)"),
    ("cache-key", 'cache_key = f"user:{user_id}"'),
    ("max-tokens", "client.messages.create(model=MODEL, max_tokens=4096)"),
    ("html-input", '<input type="password" name="password" placeholder="Password">'),
    ("env-reference", "PASSWORD=${DB_PASSWORD}"),
    ("env-variable", "TOKEN=$GITHUB_TOKEN"),
    ("env-command-substitution", "API_KEY=$(cat ~/.key)"),
    ("env-empty", "SECRET_KEY="),
    ("env-boolean", "DEBUG_TOKEN=false"),
    ("env-max-tokens", "MAX_TOKENS=4096"),
    ("env-pwd", "PWD=/home/user/project"),
    ("public-key", "PUBLIC_KEY=ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGb4nq5d"),
    ("template", 'password: "{{ vault_db_password }}"'),
    ("masked", '"password": "********"'),
    ("yaml-type", "api_key: str"),
    ("css-class", "The .sk-button-primary-large class sets the colour."),
    ("scikit", "pip install scikit-learn"),
    ("stripe-publishable", f"Stripe.js uses {STRIPE_PUBLISHABLE} in the browser."),
    ("certificate", PUBLIC_CERT),
    ("already-redacted", f"PASSWORD={r('password')} and {r('jwt')}"),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CAUGHT], ids=[c[0] for c in CAUGHT])
def test_redact_catches(text: str, expected: str) -> None:
    assert redact(text) == expected
    assert redact(expected) == expected


@pytest.mark.parametrize(("text",), [(c[1],) for c in LEFT_ALONE], ids=[c[0] for c in LEFT_ALONE])
def test_redact_leaves_alone(text: str) -> None:
    assert redact(text) == text


def test_redact_leaves_the_data_file_alone() -> None:
    text = (DATA / "leave_alone.txt").read_text(encoding="utf-8")
    assert redact(text) == text


def test_no_secret_survives_in_a_mixed_document() -> None:
    secrets = [
        ANTHROPIC,
        OPENAI_LEGACY,
        OPENAI_PROJECT,
        AWS_ID,
        AWS_SECRET,
        GITHUB_PAT_CLASSIC,
        GITHUB_APP,
        GITHUB_OAUTH,
        GITHUB_FINE,
        GITLAB,
        SLACK_BOT,
        SLACK_USER,
        STRIPE_SECRET,
        STRIPE_RESTRICTED,
        GOOGLE,
        NPM,
        JWT,
        OPAQUE,
        PASSWORD,
        RSA_BODY[:64],
    ]
    document = "\n\n".join(c[1] for c in CAUGHT)
    out = redact(document)
    for secret in secrets:
        assert secret not in out
    assert out == "\n\n".join(c[2] for c in CAUGHT)


def test_empty_and_plain() -> None:
    assert redact("") == ""
    assert redact("hello world") == "hello world"


# ----------------------------------------------------------------- redact_value


def test_redact_value_walks_dicts_lists_and_tuples() -> None:
    value = {
        "tool_name": "Bash",
        "tool_input": {
            "command": f"curl -u admin:x https://admin:{PASSWORD}@host/x",
            "env": {"API_KEY": "3f9a1c77e2b04d5f", "PATH": "/usr/bin", "DEBUG": "1"},
        },
        "headers": [{"Authorization": f"Bearer {OPAQUE}"}, {"Accept": "application/json"}],
        "pair": ("ok", f"token={SLACK_USER}"),
        "count": 3,
        "ok": True,
        "none": None,
        "ratio": 0.5,
    }
    before = copy.deepcopy(value)
    out = redact_value(value)
    assert value == before  # the input is not modified
    assert out == {
        "tool_name": "Bash",
        "tool_input": {
            "command": f"curl -u admin:x https://admin:{r('url_password')}@host/x",
            "env": {"API_KEY": r("secret"), "PATH": "/usr/bin", "DEBUG": "1"},
        },
        "headers": [
            {"Authorization": f"Bearer {r('bearer_token')}"},
            {"Accept": "application/json"},
        ],
        "pair": ("ok", f"token={r('slack_token')}"),
        "count": 3,
        "ok": True,
        "none": None,
        "ratio": 0.5,
    }


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("password", "hunter22", r("password")),
        ("DB_PASSWORD", "Tr0ub4dor&3", r("password")),
        ("client_secret", "9f8e7d6c5b4a3210", r("secret")),
        ("apiKey", "a8f5f167f44f4964", r("secret")),
        ("x-api-key", "a8f5f167f44f4964", r("secret")),
        ("authorization", f"Basic {BASIC}", f"Basic {r('basic_auth')}"),
        ("Authorization", OPAQUE, r("bearer_token")),
        ("password", "", ""),
        ("password", "${DB_PASSWORD}", "${DB_PASSWORD}"),
        ("password", "********", "********"),
        ("token", "abc", "abc"),  # too short to be taken whole
        ("primary_key", "id", "id"),
        ("max_tokens", "4096", "4096"),
        ("input_tokens", "12", "12"),
        ("tool_use_id", "toolu_01ABCDEF", "toolu_01ABCDEF"),
        ("description", f"uses {GOOGLE}", f"uses {r('google_api_key')}"),
    ],
)
def test_redact_value_by_key(key: str, value: str, expected: str) -> None:
    assert redact_value({key: value}) == {key: expected}


def test_redact_value_keeps_image_data() -> None:
    # base64 can contain anything, e.g. something shaped like a Google key
    data = "iVBORw0KGgo/" + GOOGLE + "/AAAA"
    image = {"kind": "image", "media_type": "image/png", "data": data}
    assert redact_value(image) == image
    assert redact_value({"data": data})["data"] != data  # without media_type: scanned


def test_redact_value_scalars() -> None:
    assert redact_value(None) is None
    assert redact_value(42) == 42
    assert redact_value(f"key {AWS_ID}") == f"key {r('aws_access_key_id')}"


# ---------------------------------------------------------------- properties

_PIECES = [c[1] for c in CAUGHT] + [c[1] for c in LEFT_ALONE]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(st.sampled_from(_PIECES), st.text(alphabet=ALNUM + " =:\"'\n/@._-", max_size=30)),
        max_size=6,
    ),
    st.sampled_from(["\n", " ", "\n\n", "; ", ", "]),
)
def test_redact_is_idempotent(pieces: list[str], sep: str) -> None:
    once = redact(sep.join(pieces))
    assert redact(once) == once


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=string.ascii_lowercase + " .,\n", max_size=200))
def test_plain_prose_is_never_changed(text: str) -> None:
    assert redact(text) == text


# ----------------------------------------------------------- the real corpus


def test_real_transcripts_have_no_false_positives() -> None:
    """The shared corpus holds no secret: redacting its text changes nothing."""
    from webapp.claude.transcript import parse_paths

    for session in parse_paths(CORPUS).sessions:
        for message in session.messages:
            assert redact(message.content) == message.content, message.source_key
            assert redact_value(message.meta) == message.meta, message.source_key
        assert redact_value(session.context) == session.context
