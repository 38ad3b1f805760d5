"""Replace secrets in transcript text with ``[REDACTED:<kind>]``.

:func:`redact` works on one string, :func:`redact_value` on JSON-like values
(dicts, lists, strings), for message ``meta`` and session ``context``.

What is caught: provider keys and tokens by their documented shapes (Anthropic,
OpenAI, AWS access key ids, GitHub, GitLab, Slack, Stripe secret/restricted,
Google API, npm, JWTs), ``Authorization:`` header values and bearer tokens,
whole PEM/PGP private-key blocks, the password of ``scheme://user:pass@host``
URLs, AWS secret access keys next to their name, and assignments whose name says
"secret" (``PASSWORD=``, ``api_key: "..."``, ``"token": "..."``, ``*_KEY=``...),
keeping the name and redacting the value.

What is left alone on purpose: ordinary words, git SHAs, UUIDs, URLs without a
password, public keys (``pk_live_``, ``PUBLIC_KEY``), and code whose value is an
expression rather than a literal (``password = input()``, ``token =
os.environ["TOKEN"]``, ``primary_key=True``, ``key=lambda x: x``), references
(``$TOKEN``, ``${DB_PASSWORD}``, ``{{ secret }}``) and empty values.

``redact`` is idempotent: ``redact(redact(s)) == redact(s)``.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["REDACTED_PREFIX", "redact", "redact_value"]

REDACTED_PREFIX = "[REDACTED:"


def _mark(kind: str) -> str:
    return f"{REDACTED_PREFIX}{kind}]"


# --- whole blocks ----------------------------------------------------------------

# A private key block. Without its END line (truncated output) the BEGIN line
# and the key-body lines right after it are taken (PEM headers, base64 lines),
# whether lines are split by real newlines or by JSON-escaped "\\n".
_SEP = r"(?:\r?\n|\\(?:r\\)?n)"  # a newline, or an escaped "\\n" / "\\r\\n"
_PEM_RE = re.compile(
    r"-----BEGIN ((?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?)-----"
    r"(?:.*?-----END \1-----"
    r"|(?:" + _SEP + r"[A-Za-z-]+: [^\n\\]*)*"  # Proc-Type:, DEK-Info:, Comment:
    r"(?:" + _SEP + r"(?=" + _SEP + r"))?"  # one blank line after them
    r"(?:" + _SEP + r"[A-Za-z0-9+/=]{1,100})*)",  # base64 lines
    re.DOTALL,
)

# --- provider tokens (shape is enough) ------------------------------------------

_B = r"(?<![A-Za-z0-9_\-])"  # token start: not inside a longer word
_E = r"(?![A-Za-z0-9_\-])"  # token end

_TOKEN_RULES: list[tuple[str, re.Pattern[str]]] = [
    ("anthropic_key", re.compile(_B + r"sk-ant-[A-Za-z0-9_\-]{20,}" + _E)),
    # OpenAI: sk-, sk-proj-, sk-svcacct-, sk-admin- (a digit is required below).
    ("openai_key", re.compile(_B + r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}" + _E)),
    (
        "aws_access_key_id",
        re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Z0-9])"),
    ),
    (
        "github_token",
        re.compile(_B + r"(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})" + _E),
    ),
    ("gitlab_token", re.compile(_B + r"glpat-[A-Za-z0-9_\-]{20,}" + _E)),
    ("slack_token", re.compile(_B + r"xox[bpars]-[A-Za-z0-9\-]{10,}" + _E)),
    (
        "slack_webhook",
        re.compile(r"https://hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]+"),
    ),
    ("stripe_key", re.compile(_B + r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}" + _E)),
    ("google_api_key", re.compile(_B + r"AIza[0-9A-Za-z_\-]{35}" + _E)),
    ("npm_token", re.compile(_B + r"npm_[A-Za-z0-9]{36}" + _E)),
    (
        "jwt",
        re.compile(_B + r"eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*" + _E),
    ),
]
_DIGIT_RE = re.compile(r"\d")

# --- tokens found by their context ------------------------------------------------

# "Authorization: Bearer xyz", "authorization=Basic xyz" (header or kwarg);
# the scheme is kept.
_AUTH_HEADER_RE = re.compile(
    r"(?i)(\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?\s*)"
    r"(?:(bearer|basic|token|bot|digest)\s+)?"
    r"([A-Za-z0-9\-._~+/]{8,}=*)"
)
# A bare "Bearer <token>" elsewhere (the token must contain a digit).
_BEARER_RE = re.compile(r"(?i)(\bbearer\s+)([A-Za-z0-9\-._~+/]{16,}=*)")

# scheme://user:password@host -> the password only
_URL_PASSWORD_RE = re.compile(
    r"(\b[A-Za-z][A-Za-z0-9+.\-]*://)([^\s:/?#@\"'<>\[\]]*):([^\s@/?#\"'<>]+)@"
)

# aws_secret_access_key = wJalr... (also in spaced INI style)
_AWS_SECRET_RE = re.compile(
    r"(?i)(\b(?:aws_?)?secret_?access_?key[\"']?\s*[:=]\s*[\"']?)"
    r"([A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])"
)

# --- assignments --------------------------------------------------------------------

_NAME = r"[A-Za-z_][A-Za-z0-9_.\-]*"
# "name": "value" / name = "value" / name: 'value' / name="value" / ["name"] = "value"
# (a quoted literal after a secret name)
_QUOTED_ASSIGN_RE = re.compile(
    r"(?P<q>[\"']?)(?P<name>" + _NAME + r")(?P=q)\]?\s*(?::|=|:=|=>)\s*"
    r"(?P<vq>[\"'`])(?P<value>[^\"'`\n]+)(?P=vq)"
)
# NAME=value (env file, shell, CLI flag): no space before "=", the value ends
# the word (a following "(" or "," means code: f(api_key=key, ...)).
_ENV_ASSIGN_RE = re.compile(
    r"(?<![A-Za-z0-9_.\-])(?P<flag>--)?(?P<name>" + _NAME + r")="
    r"(?P<value>[^\s\"'`;&|()<>,\\]+)(?=$|[\s;&|\\])",
    re.MULTILINE,
)
# name: value / name = value alone on a line (YAML, INI, HTTP headers).
_LINE_ASSIGN_RE = re.compile(
    r"^[ \t]*(?:export[ \t]+)?(?P<name>" + _NAME + r")[ \t]*(?P<sep>[:=])[ \t]*"
    r"(?P<value>[^\s\"'`][^\n]*?)[ \t]*(?:[ \t]#[^\n]*)?$",
    re.MULTILINE,
)
# In "name: value", a value with these is code (a type, a call, an attribute).
_EXPRESSION_RE = re.compile(r"[()\[\]{}|,;<>]|\s|[A-Za-z_]\.[A-Za-z_]")

_NOT_SECRET_NAMES = frozenset({"pwd", "oldpwd", "key", "pass", "bypass"})
# names ending in KEY that are not secrets
_NOT_SECRET_KEY_PREFIXES = frozenset(
    {
        "primary",
        "foreign",
        "sort",
        "cache",
        "partition",
        "public",
        "pub",
        "unique",
        "composite",
        "row",
        "lookup",
        "group",
        "index",
        "idempotency",
        "object",
        "map",
        "dict",
        "hot",
        "shortcut",
        "keyboard",
        "natural",
        "surrogate",
        "candidate",
        "hash",
        "join",
        "routing",
        "order",
        "storage",
        "state",
        "translation",
        "query",
        "cursor",
        "source",
    }
)
_TOKEN_NOT_SECRET_PREFIXES = frozenset({"max", "num", "total", "input", "output", "count"})
_EXPRESSION_VALUES = frozenset(
    {
        "true",
        "false",
        "none",
        "null",
        "nil",
        "undefined",
        "yes",
        "no",
        "on",
        "off",
        "lambda",
        "str",
        "string",
        "int",
        "bytes",
        "bool",
        "any",
        "secretstr",
        "required",
        "optional",
    }
)
_SPLIT_RE = re.compile(r"[_.\-]+|(?<=[a-z0-9])(?=[A-Z])")


def _secret_kind(name: str) -> str | None:
    """``"password"`` or ``"secret"`` when a variable/key name says it holds one."""
    raw = name.strip("\"'-")
    if raw.lower() in _NOT_SECRET_NAMES:
        return None
    parts = [p.lower() for p in _SPLIT_RE.split(raw) if p]
    if not parts:
        return None
    last = parts[-1]
    before = parts[-2] if len(parts) > 1 else ""
    if last in ("password", "passwd", "passphrase", "pwd", "pass") or "".join(parts).endswith(
        "password"
    ):
        return "password"
    if last in ("secret", "credential", "credentials", "apikey") or (
        last == "key" and before == "api"
    ):
        return "secret"
    if last == "token":
        return None if before in _TOKEN_NOT_SECRET_PREFIXES else "secret"
    if last == "key" and before:
        return None if before in _NOT_SECRET_KEY_PREFIXES else "secret"
    if last == "auth" and before:
        return "secret"
    return None


def _is_reference(value: str) -> bool:
    """Values that name a secret instead of holding it, or hold nothing."""
    v = value.strip()
    if not v or v.startswith(REDACTED_PREFIX):
        return True
    if v[0] in "$%<{[(":
        return True
    if set(v) <= set("*xX.-_#?"):
        return True
    return v.lower() in _EXPRESSION_VALUES


def _looks_like_literal(value: str) -> bool:
    """A bare value where code is likely (``name = value``, lowercase
    ``name=value``) counts as a secret only if it looks like one: no call,
    attribute, index or string syntax, 6+ characters, letters and digits."""
    if len(value) < 6 or any(c in value for c in "()[]{}.,\"'`= "):
        return False
    return bool(_DIGIT_RE.search(value)) and any(c.isalpha() for c in value)


def _replace_value(m: re.Match[str], kind: str) -> str:
    start, end = m.span("value")
    base = m.start(0)
    whole = m.group(0)
    return whole[: start - base] + _mark(kind) + whole[end - base :]


def _quoted_assign(m: re.Match[str]) -> str:
    kind = _secret_kind(m.group("name"))
    if kind is None or _is_reference(m.group("value")):
        return m.group(0)
    return _replace_value(m, kind)


def _env_assign(m: re.Match[str]) -> str:
    name, value = m.group("name"), m.group("value")
    kind = _secret_kind(name)
    if kind is None or _is_reference(value):
        return m.group(0)
    # UPPER_CASE=... (env files) and --flag=... take any value; lower_case=...
    # is often a keyword argument, so its value must look like a literal.
    if not m.group("flag") and name != name.upper() and not _looks_like_literal(value):
        return m.group(0)
    return _replace_value(m, kind)


def _line_assign(m: re.Match[str]) -> str:
    kind = _secret_kind(m.group("name"))
    value = m.group("value")
    if kind is None or _is_reference(value):
        return m.group(0)
    if m.group("sep") == ":":
        if _EXPRESSION_RE.search(value):
            return m.group(0)
    elif not _looks_like_literal(value):
        return m.group(0)
    return _replace_value(m, kind)


def _sub_tokens(text: str) -> str:
    for kind, pattern in _TOKEN_RULES:
        if kind == "openai_key":
            text = pattern.sub(
                lambda m: _mark("openai_key") if _DIGIT_RE.search(m.group(0)) else m.group(0),
                text,
            )
        else:
            text = pattern.sub(_mark(kind), text)
    return text


def _auth_header(m: re.Match[str]) -> str:
    scheme, token = m.group(2), m.group(3)
    if not scheme and not _DIGIT_RE.search(token):
        return m.group(0)  # "authorization=required": a word, not a credential
    kind = "basic_auth" if scheme and scheme.lower() == "basic" else "bearer_token"
    return m.group(1) + (f"{scheme} " if scheme else "") + _mark(kind)


def _bearer(m: re.Match[str]) -> str:
    if not _DIGIT_RE.search(m.group(2)):
        return m.group(0)
    return m.group(1) + _mark("bearer_token")


def _url_password(m: re.Match[str]) -> str:
    if _is_reference(m.group(3)):
        return m.group(0)
    return f"{m.group(1)}{m.group(2)}:{_mark('url_password')}@"


def redact(text: str) -> str:
    """``text`` with every secret found replaced by ``[REDACTED:<kind>]``."""
    if not text:
        return text
    text = _PEM_RE.sub(_mark("private_key"), text)
    text = _sub_tokens(text)
    text = _AUTH_HEADER_RE.sub(_auth_header, text)
    text = _BEARER_RE.sub(_bearer, text)
    text = _URL_PASSWORD_RE.sub(_url_password, text)
    text = _AWS_SECRET_RE.sub(lambda m: m.group(1) + _mark("aws_secret_key"), text)
    text = _QUOTED_ASSIGN_RE.sub(_quoted_assign, text)
    text = _ENV_ASSIGN_RE.sub(_env_assign, text)
    text = _LINE_ASSIGN_RE.sub(_line_assign, text)
    return text


def _redact_named(key: str, value: str) -> str:
    """A string stored under a key: a secret-named key hides its whole value."""
    low = key.lower()
    if low in ("authorization", "proxy-authorization"):
        scheme, _, rest = value.strip().partition(" ")
        if rest and scheme.isalpha():
            auth_kind = "basic_auth" if scheme.lower() == "basic" else "bearer_token"
            return f"{scheme} {_mark(auth_kind)}"
        return _mark("bearer_token") if value.strip() else value
    kind = _secret_kind(key)
    v = value.strip()
    if (
        kind is not None
        and not _is_reference(v)
        and len(v) >= 6
        and not any(c.isspace() for c in v)
    ):
        return _mark(kind)
    return redact(value)


def redact_value(obj: Any) -> Any:
    """A copy of ``obj`` with secrets redacted in every string it holds.

    Dicts, lists and tuples are walked recursively (keys are kept); a string
    under a secret-named key (``"password"``, ``"API_KEY"``, ``"authorization"``
    ...) is replaced whole. Base64 ``data`` beside a ``media_type`` (an image)
    is left as is. Other values are returned unchanged."""
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, dict):
        media = "media_type" in obj
        out: dict[Any, Any] = {}
        for k, v in obj.items():
            if isinstance(v, str) and isinstance(k, str):
                if media and k == "data":
                    out[k] = v
                else:
                    out[k] = _redact_named(k, v)
            else:
                out[k] = redact_value(v)
        return out
    if isinstance(obj, list):
        return [redact_value(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(redact_value(v) for v in obj)
    return obj
