"""Token usage: the model's responses counted once each, and what they cost by the prices
of the config.

Pure. An agent's record (read by imessenger.adapters.records.usage) may write one
response several times (Claude Code writes an entry per content block, each with the
response's usage; Gemini CLI writes a message again when it adds its tokens): a
:class:`Tally` counts each response once, by a key the record gives it, the last count
of it kept.

The cost is an estimate: the prices are the user's (``[prices."MODEL"]`` in the config,
in currency units per million tokens), and the counts are what the agent recorded, which
is not always what the provider bills (see docs/agents.md).

>>> tally = Tally()
>>> tally.count("msg_1", Usage(1203, 1, model="m", turns=1))
>>> tally.count("msg_1", Usage(1203, 67, model="m", turns=1))  # the same response again
>>> tally.count("msg_2", Usage(1000, 10, model="m", turns=1))
>>> tally.usage()
Usage(input_tokens=2203, output_tokens=77, cache_read_tokens=0, cache_write_tokens=0, \
model='m', turns=2, by_model=())
>>> prices = {"m": Price(input=3.0, output=15.0)}
>>> round(estimate_cost(tally.usage(), prices), 6)
0.007764
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from imessenger.core.errors import ConfigError
from imessenger.core.values import Usage

#: The keys of a ``[prices."MODEL"]`` table; ``input`` and ``output`` are required, the
#: cache prices default to the input price.
PRICE_KEYS = ("input", "output", "cache_read", "cache_write")


@dataclass(frozen=True)
class Price:
    """What a model's tokens cost, in currency units per million tokens.

    A cache price left out of the config is the input price (None here): a cache read or
    write is input, and costs as much unless a cheaper (or dearer) price is given.
    """

    input: float
    output: float
    cache_read: float | None = None
    cache_write: float | None = None

    @classmethod
    def from_table(cls, model: str, table: Mapping[str, Any], where: str) -> Price:
        """Type a ``[prices."MODEL"]`` table (its value types already checked); raise
        ConfigError for a model name or a price that cannot be used."""
        name = f'prices."{model}"'
        if not model.strip() or any(ord(ch) < 32 or ord(ch) == 127 for ch in model):
            raise ConfigError(
                f"{where}: [{name}]: a model name must be non-blank text on one line, as "
                '`isesh list --usage --json` shows it in "model" (a glob such as '
                '"claude-sonnet-4*" matches several)'
            )
        missing = [key for key in ("input", "output") if key not in table]
        if missing:
            raise ConfigError(
                f"{where}: [{name}] needs {' and '.join(missing)} = <price per million "
                "tokens> (and may give cache_read and cache_write)"
            )
        for key in PRICE_KEYS:
            value = table.get(key)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(
                    f"{where}: {name}.{key} must be a number (a price per million tokens), "
                    f"got {value!r}"
                )
            if not math.isfinite(value) or value < 0:
                raise ConfigError(
                    f"{where}: {name}.{key} must be zero or more, and finite; got {value!r}"
                )
        cache_read, cache_write = table.get("cache_read"), table.get("cache_write")
        return cls(
            input=float(table["input"]),
            output=float(table["output"]),
            cache_read=None if cache_read is None else float(cache_read),
            cache_write=None if cache_write is None else float(cache_write),
        )

    def cost(self, usage: Usage) -> float:
        """What ``usage`` costs at this price (all of it, whatever model it names)."""
        read = self.input if self.cache_read is None else self.cache_read
        write = self.input if self.cache_write is None else self.cache_write
        return (
            usage.input_tokens * self.input
            + usage.output_tokens * self.output
            + usage.cache_read_tokens * read
            + usage.cache_write_tokens * write
        ) / 1_000_000


def price_for(model: str, prices: Mapping[str, Price]) -> Price | None:
    """The price of ``model``: the one given for its very name, else the one of the
    longest glob that matches it (``"claude-sonnet-4*"``), else None.

    >>> prices = {"gpt-5*": Price(1.0, 8.0), "gpt-5-mini": Price(0.25, 2.0)}
    >>> price_for("gpt-5-mini", prices).input, price_for("gpt-5.1", prices).input
    (0.25, 1.0)
    >>> price_for("o3", prices) is None
    True
    """
    if model in prices:
        return prices[model]
    matching = [glob for glob in prices if fnmatch.fnmatchcase(model, glob)]
    return prices[max(matching, key=len)] if matching else None


def estimate_cost(usage: Usage, prices: Mapping[str, Price]) -> float | None:
    """What ``usage`` costs, each model's share at its price; None when a model that used
    tokens has no price (or no model is named): then nothing is estimated."""
    total = 0.0
    for share in usage.models():
        if not share.total_tokens:
            continue  # free at any price
        price = price_for(share.model, prices) if share.model else None
        if price is None:
            return None
        total += price.cost(share)
    return total


def short_count(count: int) -> str:
    """A count of tokens, short, as the commands show it.

    >>> [short_count(n) for n in (950, 12_345, 999_960, 4_100_000)]
    ['950', '12.3k', '1.0M', '4.1M']
    """
    if count < 1000:
        return str(count)
    shown = ""
    for unit, size in (("k", 1e3), ("M", 1e6), ("G", 1e9)):
        shown = f"{count / size:.1f}{unit}"
        if count / size < 999.95:
            break
    return shown


def short_cost(cost: float | None) -> str:
    """An estimated cost as the commands show it: two decimals ("-" when there is none).

    >>> [short_cost(c) for c in (None, 0.0, 0.001, 1.234)]
    ['-', '0.00', '<0.01', '1.23']
    """
    if cost is None:
        return "-"
    return "<0.01" if 0 < cost < 0.005 else f"{cost:.2f}"


class Tally:
    """The responses of one record, each counted once by its key (see the module
    docstring): a response counted again replaces its earlier count, in its place."""

    def __init__(self) -> None:
        self._responses: dict[str, Usage] = {}

    def count(self, key: str, response: Usage) -> None:
        """Count one response (``turns`` 1) under ``key``."""
        self._responses[key] = response

    def __len__(self) -> int:
        return len(self._responses)

    def merged(self, other: Tally) -> Tally:
        """Both tallies' responses, one count per key (``other``'s where both have it)."""
        both = Tally()
        both._responses = {**self._responses, **other._responses}
        return both

    def usage(self) -> Usage:
        """Every response counted, added up in order."""
        total = Usage()
        for response in self._responses.values():
            total = total + response
        return total
