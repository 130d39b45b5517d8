"""Cost in USD from token usage, priced with `genai-prices` (offline) and aggregated in SQL.

Why this shape:

* **A maintained price list, offline.** Prices come from the `genai-prices` package's bundled data
  snapshot. That package can also refresh prices over the network, but only through its
  `UpdatePrices` background task, which devlog never starts: pricing never touches the network.
* **Priced per group, exactly.** Stats sum tokens in SQL per (time bucket, model, *band*) and price
  each group once, instead of pricing a million events one by one. Prices are linear in tokens
  except for tiered ("above 200k context") prices, where genai-prices charges the whole request at
  the tier reached by the request's total input (uncached + cache write + cache read). The bands are
  the intervals between every tier start found in the price data, so all requests of one band are in
  the same tier for every model, and pricing their token sums is exact.
* **Fast start.** Importing the price data costs ~0.4 s, more than a whole `devlog stats` run may
  take. The coefficients derived for each model name (per band and per conditional price) are
  cached in `<devlog home>/cache/prices.json`, keyed by the installed price data, so warm runs never
  import genai-prices.

Mapping of devlog usage to genai-prices: `input_tokens` (genai-prices counts cached input inside
input) = input + cache creation + cache read; `cache_write_tokens` = cache creation, of which
`cache_write_1h_tokens` = the part written to Claude's 1-hour cache (`attrs.cache_creation_1h_tokens`,
priced at the 1-hour write price); `cache_read_tokens` = cache read; `output_tokens` = output
(reasoning is part of output and not priced separately); `web_searches` = Claude's server-side web
searches (`attrs.web_search_requests`, priced per search). Claude's fast mode (`attrs.speed: "fast"`)
costs a multiple of the standard token rates that genai-prices does not carry: `FAST_MULTIPLIERS`
(the published premiums; 1 for a model without one). Web searches keep their per-search price.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any, NamedTuple

from devlog_collector.paths import home_dir

__all__ = ["Coefficients", "Pricer", "TokenSums", "band_case"]


#: [uncached input, cache write (5-minute), cache read, output, per-request fee, cache write (1-hour),
#: per web search] in USD per token (fee per request, search price per search).
Coefficients = list[float]
_CACHE_FORMAT = 2
#: Fast-mode price multiples by model name prefix (Anthropic's fast mode for Opus: 6x from Opus 4.6,
#: 2x for Opus 4.8). A model named with a date suffix or a provider prefix matches its base name.
FAST_MULTIPLIERS: dict[str, float] = {"claude-opus-4-6": 6.0, "claude-opus-4-7": 6.0, "claude-opus-4-8": 2.0}


def fast_multiplier(model_ref: str) -> float:
    """The price multiple of fast mode for `model_ref` (1.0 when none is published)."""
    name = model_ref.rsplit("/", 1)[-1].lower()
    for prefix, multiple in FAST_MULTIPLIERS.items():
        if name.startswith(prefix) and (len(name) == len(prefix) or name[len(prefix)] in "-@."):
            return multiple
    return 1.0


# The classes here are plain (no msgspec, no dataclasses): `devlog stats` imports this module, and
# either would add milliseconds to every run (see storage_location.py on the start-up budget).


class TokenSums(NamedTuple):
    """Token totals of a group of model calls (devlog's normalised usage)."""

    input: int = 0
    output: int = 0
    cache_creation: int = 0
    cache_read: int = 0
    requests: int = 0
    #: Of `cache_creation`, the tokens written to the 1-hour cache.
    cache_creation_1h: int = 0
    web_searches: int = 0


class _PriceOption:
    """One of a model's prices, active always (`when` None), from a UTC date, or in a UTC time-of-day window."""

    __slots__ = ("coeffs", "when")

    def __init__(self, when: list[str] | None, coeffs: list[Coefficients]) -> None:
        self.when = when
        self.coeffs = coeffs  # one per band

    def active(self, at: datetime) -> bool:
        if self.when is None:
            return True
        if self.when[0] == "date":
            return at.astimezone(UTC).date() >= date.fromisoformat(self.when[1])
        start, end = time.fromisoformat(self.when[1]), time.fromisoformat(self.when[2])
        now = at.astimezone(UTC).time()
        return (now >= start or now < end) if end < start else start <= now < end


class _ModelPrices:
    __slots__ = ("options",)

    def __init__(self, options: list[_PriceOption]) -> None:
        self.options = options

    def coefficients(self, band: int, at: datetime) -> Coefficients:
        if len(self.options) == 1:
            return self.options[0].coeffs[band]
        for option in reversed(self.options):  # genai-prices: the last active price wins
            if option.active(at):
                return option.coeffs[band]
        return self.options[0].coeffs[band]

    @property
    def time_dependent(self) -> bool:
        return len(self.options) > 1


def _log() -> Any:
    from devlog_collector.log import get_logger  # only on rare paths: keeps `devlog stats` start-up short

    return get_logger(__name__)


def band_case(bands: Sequence[int], expr: str) -> str:
    """SQL giving the band index of `expr` (a request's total input tokens)."""
    if not bands:
        return "0"
    whens = " ".join(f"WHEN {expr} <= {int(b)} THEN {i}" for i, b in enumerate(bands))
    return f"(CASE {whens} ELSE {len(bands)} END)"


def _price_data_fingerprint() -> str:
    """Identifies the installed price data without importing it (size and mtime of genai_prices/data.py)."""
    spec = importlib.util.find_spec("genai_prices")
    if spec is None or spec.origin is None:
        return "missing"
    data = Path(spec.origin).with_name("data.py")
    try:
        st = data.stat()
    except OSError:
        return "missing"
    return f"{_CACHE_FORMAT}:{st.st_size}:{st.st_mtime_ns}"


class Pricer:
    """Prices token sums per model name; remembers the names it could not price.

    Use `Pricer.load()`. `cost()` returns None for a model genai-prices does not know.
    """

    __slots__ = ("_dirty", "_fingerprint", "_models", "_snapshot", "bands", "cache_path")

    def __init__(
        self,
        bands: list[int],
        fingerprint: str,
        models: dict[str, _ModelPrices | None] | None = None,
        cache_path: Path | None = None,
    ) -> None:
        self.bands = bands
        self.cache_path = cache_path
        self._fingerprint = fingerprint
        self._models: dict[str, _ModelPrices | None] = {} if models is None else models
        self._snapshot: Any = None
        self._dirty = False

    @classmethod
    def load(cls, cache_path: Path | None = None) -> Pricer:
        """A pricer using the cached coefficients when they match the installed price data."""
        path = cache_path if cache_path is not None else home_dir() / "cache" / "prices.json"
        fingerprint = _price_data_fingerprint()
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            raw = json.loads(path.read_text(encoding="utf-8"))
            if raw["fingerprint"] == fingerprint:
                models: dict[str, _ModelPrices | None] = {}
                for name, entry in raw["models"].items():
                    models[name] = (
                        None if entry is None else _ModelPrices([_PriceOption(o["when"], o["coeffs"]) for o in entry])
                    )
                return cls([int(b) for b in raw["bands"]], fingerprint, models, cache_path=path)
        pricer = cls([], fingerprint, cache_path=path)
        pricer.bands = pricer._all_tier_starts()
        pricer._dirty = True
        return pricer

    # -- genai-prices, imported only on a cache miss -------------------------------------------------

    def _snapshot_data(self) -> Any:
        if self._snapshot is None:
            from genai_prices import data_snapshot

            # The bundled snapshot: get_snapshot() only returns something else after UpdatePrices ran,
            # which devlog never starts, so this never fetches.
            self._snapshot = data_snapshot.get_snapshot()
        return self._snapshot

    def _all_tier_starts(self) -> list[int]:
        from genai_prices import types

        starts: set[int] = set()
        for provider in self._snapshot_data().providers:
            for model in provider.models:
                prices = (
                    [model.prices] if isinstance(model.prices, types.ModelPrice) else [c.prices for c in model.prices]
                )
                for model_price in prices:
                    for value in model_price.__dict__.values():
                        if isinstance(value, types.TieredPrices):
                            starts.update(tier.start for tier in value.tiers)
        return sorted(starts)

    def _derive(self, model_ref: str) -> _ModelPrices | None:
        from genai_prices import types

        try:
            _, model = self._snapshot_data().find_provider_model(model_ref, None, None, None)
        except LookupError:
            return None
        options: list[tuple[list[str] | None, Any]] = []
        if isinstance(model.prices, types.ModelPrice):
            options.append((None, model.prices))
        else:
            for conditional in model.prices:
                c = conditional.constraint
                when: list[str] | None
                if c is None:
                    when = None
                elif isinstance(c, types.StartDateConstraint):
                    when = ["date", c.start_date.isoformat()]
                elif isinstance(c, types.TimeOfDateConstraint):
                    start = datetime.combine(date(1970, 1, 1), c.start_time)
                    end = datetime.combine(date(1970, 1, 1), c.end_time)
                    if start.tzinfo is None:
                        start, end = start.replace(tzinfo=UTC), end.replace(tzinfo=UTC)
                    when = ["time", start.astimezone(UTC).time().isoformat(), end.astimezone(UTC).time().isoformat()]
                else:  # pragma: no cover - a constraint type newer than this code
                    return None
                options.append((when, conditional.prices))
        try:
            return _ModelPrices([_PriceOption(when, [self._coefficients(mp, b) for b in range(len(self.bands) + 1)])
                                 for when, mp in options])  # fmt: skip
        except (ValueError, ArithmeticError) as exc:
            _log().debug("price_model_unusable", model=model_ref, error=str(exc))
            return None

    def _coefficients(self, model_price: Any, band: int) -> Coefficients:
        from genai_prices import Usage

        rep = 1 if band == 0 else self.bands[band - 1] + 1  # a request size inside this band

        def total(**tokens: int) -> float:
            return float(model_price.calc_price(Usage(**tokens))["total_price"])

        fee = total()
        base = total(input_tokens=rep) - fee
        return [
            base / rep,
            (total(input_tokens=rep, cache_write_tokens=rep) - fee) / rep,
            (total(input_tokens=rep, cache_read_tokens=rep) - fee) / rep,
            (total(input_tokens=rep, output_tokens=rep) - fee - base) / rep,
            fee,
            (total(input_tokens=rep, cache_write_tokens=rep, cache_write_1h_tokens=rep) - fee) / rep,
            (total(web_searches=1000) - fee) / 1000,
        ]

    def _model(self, model_ref: str) -> _ModelPrices | None:
        if model_ref not in self._models:
            self._models[model_ref] = self._derive(model_ref)
            self._dirty = True
        return self._models[model_ref]

    # -- public ---------------------------------------------------------------------------------------

    def known(self, model_ref: str | None) -> bool:
        """Whether genai-prices can price `model_ref`."""
        return model_ref is not None and self._model(model_ref) is not None

    def time_dependent(self, model_ref: str) -> bool:
        """Whether the model's price depends on the date or time of day."""
        prices = self._model(model_ref)
        return prices is not None and prices.time_dependent

    def band_of(self, total_input: int) -> int:
        """The band index of a request with `total_input` tokens (same as `band_case` in SQL)."""
        for i, b in enumerate(self.bands):
            if total_input <= b:
                return i
        return len(self.bands)

    def cost(
        self, model_ref: str | None, band: int, at: datetime, tokens: TokenSums, *, fast: bool = False
    ) -> float | None:
        """USD for `tokens` (all requests in `band`) of `model_ref` at time `at`; None if unpriced.

        `fast`: the requests ran in Claude's fast mode (their tokens priced at `fast_multiplier` times
        the rate; per-request and per-search fees are not part of the premium).
        """
        if model_ref is None:
            return None
        prices = self._model(model_ref)
        if prices is None:
            return None
        c = prices.coefficients(band, at)
        one_hour = min(tokens.cache_creation_1h, tokens.cache_creation)
        token_usd = (
            c[0] * tokens.input
            + c[1] * (tokens.cache_creation - one_hour)
            + c[5] * one_hour
            + c[2] * tokens.cache_read
            + c[3] * tokens.output
        )
        if fast:  # the premium is on the token rates; a request fee and a search fee stay as they are
            token_usd *= fast_multiplier(model_ref)
        return token_usd + c[4] * tokens.requests + c[6] * tokens.web_searches

    def event_cost(self, model_ref: str | None, at: datetime, tokens: TokenSums, *, fast: bool = False) -> float | None:
        """USD for one model call."""
        band = self.band_of(tokens.input + tokens.cache_creation + tokens.cache_read)
        return self.cost(model_ref, band, at, tokens._replace(requests=1), fast=fast)

    def save(self) -> None:
        """Write the coefficient cache if anything new was derived (best effort, atomic)."""
        if not self._dirty or self.cache_path is None:
            return
        data = {
            "fingerprint": self._fingerprint,
            "bands": self.bands,
            "models": {
                name: None if p is None else [{"when": o.when, "coeffs": o.coeffs} for o in p.options]
                for name, p in sorted(self._models.items())
            },
        }
        try:
            self.cache_path.parent.mkdir(parents=True, exist_ok=True)
            import tempfile

            fd, tmp = tempfile.mkstemp(dir=self.cache_path.parent, prefix=".prices.")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh)
            Path(tmp).replace(self.cache_path)
            self._dirty = False
        except OSError as exc:
            _log().debug("price_cache_not_written", path=str(self.cache_path), error=exc.strerror)
