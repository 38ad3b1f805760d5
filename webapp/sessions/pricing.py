"""Token usage and what it costs: the documented usage shape and a versioned price table.

Usage is what one API response consumed, in Anthropic's terms: ``input_tokens``,
``output_tokens``, ``cache_read_input_tokens``, ``cache_creation_input_tokens``
(optionally split by ``cache_creation.ephemeral_5m_input_tokens`` and
``ephemeral_1h_input_tokens``). Costs are integers of nano-dollars (1e-9 USD), so
sums are exact; prices are per million tokens in ``prices.json`` beside this file,
which an instance can override model by model with its own ``prices.json``.

A model without a price has no cost (None), never 0: a reader must see "no price".
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from decimal import Decimal
from pathlib import Path
from typing import Any

SHIPPED = Path(__file__).with_name("prices.json")
#: Prices are given per million tokens; costs are kept in nano-dollars.
NANOS_PER_USD = 10**9
_NANOS_PER_TOKEN_PER_MILLION = NANOS_PER_USD // 10**6
_DATE_SUFFIX = re.compile(r"-(?:\d{8}|v\d+(?::\d+)?|latest)$")
_PROVIDER_PREFIX = re.compile(r"^(?:anthropic[./]|us\.anthropic\.|eu\.anthropic\.|bedrock/)")


@dataclass(frozen=True)
class Usage:
    """Tokens of one response (or a sum of them), by kind."""

    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write_5m: int = 0
    cache_write_1h: int = 0

    @classmethod
    def from_api(cls, usage: Mapping[str, Any] | None) -> Usage:
        """The usage object of an Anthropic API response (as Claude Code logs it).
        Missing or malformed counts are 0; a cache write without the 5m/1h split
        counts as 5-minute writes, the default."""
        if not usage:
            return cls()
        written = _count(usage.get("cache_creation_input_tokens"))
        split = usage.get("cache_creation")
        one_hour = (
            _count(split.get("ephemeral_1h_input_tokens")) if isinstance(split, Mapping) else 0
        )
        one_hour = min(one_hour, written)
        return cls(
            input=_count(usage.get("input_tokens")),
            output=_count(usage.get("output_tokens")),
            cache_read=_count(usage.get("cache_read_input_tokens")),
            cache_write_5m=written - one_hour,
            cache_write_1h=one_hour,
        )

    @property
    def cache_write(self) -> int:
        """Tokens written to the cache, 5-minute and 1-hour."""
        return self.cache_write_5m + self.cache_write_1h

    @property
    def prompt(self) -> int:
        """Every token of the prompt: new input, cache reads and cache writes."""
        return self.input + self.cache_read + self.cache_write

    @property
    def total(self) -> int:
        """Every token, prompt and output."""
        return self.prompt + self.output

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input + other.input,
            self.output + other.output,
            self.cache_read + other.cache_read,
            self.cache_write_5m + other.cache_write_5m,
            self.cache_write_1h + other.cache_write_1h,
        )


#: The most tokens of one kind one response may report, and the most dollars a
#: runner may say one response cost: far above any real figure, far below overflow.
MAX_TOKENS = 10**12
MAX_COST_USD = 10**6
TOKEN_KEYS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)
MAX_MODEL_LENGTH = 200


def check_usage_meta(meta: Mapping[str, Any] | None) -> None:
    """Raise ``ValueError`` unless the usage keys of a message's ``meta`` have the
    documented shape: ``usage`` an object whose token counts (when given) are
    whole numbers from 0 to :data:`MAX_TOKENS`, ``model`` a short string, and
    ``cost_usd`` (a runner's own figure for the response) a number of dollars
    from 0 to :data:`MAX_COST_USD`."""
    if not meta:
        return
    usage = meta.get("usage")
    if usage is not None:
        if not isinstance(usage, Mapping):
            raise ValueError("meta.usage must be an object of token counts")
        for key in TOKEN_KEYS:
            value = usage.get(key)
            if value is not None and not _is_count(value):
                raise ValueError(f"meta.usage.{key} must be a whole number from 0 to {MAX_TOKENS}")
        split = usage.get("cache_creation")
        if split is not None and not isinstance(split, Mapping):
            raise ValueError("meta.usage.cache_creation must be an object")
    model = meta.get("model")
    if model is not None and (not isinstance(model, str) or len(model) > MAX_MODEL_LENGTH):
        raise ValueError(f"meta.model must be a string of at most {MAX_MODEL_LENGTH} characters")
    cost = meta.get("cost_usd")
    if cost is not None and runner_cost_nanos(cost) is None:
        raise ValueError(f"meta.cost_usd must be a number of dollars from 0 to {MAX_COST_USD}")


def runner_cost_nanos(cost_usd: Any) -> int | None:
    """A runner's own cost of a response (``meta.cost_usd``, dollars) in
    nano-dollars, or None when it is not a number from 0 to :data:`MAX_COST_USD`."""
    if isinstance(cost_usd, bool) or not isinstance(cost_usd, int | float):
        return None
    if not math.isfinite(cost_usd) or not 0 <= cost_usd <= MAX_COST_USD:
        return None
    return int((Decimal(str(cost_usd)) * NANOS_PER_USD).to_integral_value())


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_TOKENS


def _count(value: Any) -> int:
    return value if _is_count(value) else 0


@dataclass(frozen=True)
class Rates:
    """Nano-dollars per token, by kind."""

    input: int
    output: int
    cache_write_5m: int
    cache_write_1h: int
    cache_read: int

    @classmethod
    def per_million(cls, prices: Mapping[str, Any], where: str) -> Rates:
        """Rates from dollars per million tokens (at most 3 decimals: exact in nanos)."""
        values = []
        for f in fields(cls):
            price = prices.get(f.name)
            if isinstance(price, bool) or not isinstance(price, int | float) or price < 0:
                raise ValueError(f"{where}: {f.name} must be a price per million tokens")
            nanos = Decimal(str(price)) * _NANOS_PER_TOKEN_PER_MILLION
            if nanos != nanos.to_integral_value():
                raise ValueError(f"{where}: {f.name} has more than 3 decimals")
            values.append(int(nanos))
        return cls(*values)

    def cost(self, usage: Usage) -> int:
        """What ``usage`` costs at these rates, in nano-dollars."""
        return (
            usage.input * self.input
            + usage.output * self.output
            + usage.cache_read * self.cache_read
            + usage.cache_write_5m * self.cache_write_5m
            + usage.cache_write_1h * self.cache_write_1h
        )


@dataclass(frozen=True)
class Price:
    """A model's rates; above ``long_context_above`` prompt tokens in one request,
    every token of that request is charged at the long-context rates."""

    rates: Rates
    long_context: Rates | None = None
    long_context_above: int = 0

    def cost(self, usage: Usage) -> int:
        """The cost of one request's usage, in nano-dollars."""
        long = self.long_context is not None and usage.prompt > self.long_context_above
        return (self.long_context if long and self.long_context else self.rates).cost(usage)


@dataclass(frozen=True)
class PriceTable:
    """Prices by model name, and the version of the table they come from."""

    version: str
    models: Mapping[str, Price]
    #: Model names already looked up (a bulk load asks for the same few again and again).
    _found: dict[str, Price | None] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def load(cls, override: Path | None = None) -> PriceTable:
        """The shipped table, with the models of ``override`` (a JSON file of the same
        shape, e.g. ``instance/prices.json``) replacing or adding to it."""
        document = json.loads(SHIPPED.read_text(encoding="utf-8"))
        version = str(document["version"])
        models = _parse_models(document["models"], str(SHIPPED))
        if override is not None and override.is_file():
            extra = json.loads(override.read_text(encoding="utf-8"))
            if not isinstance(extra, dict) or not isinstance(extra.get("models"), dict):
                raise ValueError(f"{override}: expected an object with a 'models' object")
            models.update(_parse_models(extra["models"], str(override)))
            version = f"{version}+{extra.get('version', override.name)}"
        return cls(version, models)

    def price(self, model: str | None) -> Price | None:
        """The price of ``model``: its exact name, else without a provider prefix or a
        date/version suffix (``claude-opus-4-5-20251101`` is ``claude-opus-4-5``)."""
        if not model:
            return None
        if model not in self._found:
            self._found[model] = self._look_up(model)
        return self._found[model]

    def _look_up(self, model: str) -> Price | None:
        name = _PROVIDER_PREFIX.sub("", model.strip().lower())
        while True:
            if name in self.models:
                return self.models[name]
            shorter = _DATE_SUFFIX.sub("", name)
            if shorter == name:
                return None
            name = shorter

    def cost(self, model: str | None, usage: Usage) -> int | None:
        """What ``usage`` of ``model`` cost in nano-dollars; None without a price."""
        price = self.price(model)
        return price.cost(usage) if price is not None else None


def _parse_models(models: Any, where: str) -> dict[str, Price]:
    if not isinstance(models, dict):
        raise ValueError(f"{where}: 'models' must be an object")
    parsed: dict[str, Price] = {}
    for name, prices in models.items():
        if not isinstance(prices, dict):
            raise ValueError(f"{where}: {name} must be an object of prices")
        long = prices.get("long_context")
        parsed[str(name).lower()] = Price(
            Rates.per_million(prices, f"{where}: {name}"),
            Rates.per_million(long, f"{where}: {name} long_context") if long else None,
            int(long.get("above", 0)) if long else 0,
        )
    return parsed


def format_usd(nanos: int | None) -> str:
    """``$1.23`` (cents), ``$0.0042`` under a cent, or ``no price`` for None."""
    if nanos is None:
        return "no price"
    dollars = Decimal(nanos) / NANOS_PER_USD
    if dollars and abs(dollars) < Decimal("0.01"):
        return f"${dollars:.4f}"
    return f"${dollars:,.2f}"
