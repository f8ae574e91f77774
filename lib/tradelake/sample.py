"""Deterministic generator of a realistic, messy day of raw trade files.

Used by ``make demo`` and by tests: writes JSON Lines (plain and gzip), CSV and Parquet under
``<out>/trades/date=<day>/`` and describes exactly what was written, so a reader can check
that every record is loaded, deduplicated or rejected.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import math
import multiprocessing
import random
import string
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

COLUMNS = ("trade_id", "symbol", "side", "price", "quantity", "timestamp", "exchange")
_DRIFT_COLUMNS = (
    "exchange",
    "timestamp",
    "trade_id",
    "symbol",
    "side",
    "quantity",
    "price",
    "venue_fee",
)
_FORMAT_CYCLE = ("jsonl", "csv", "jsonl.gz", "parquet")
# --format: every file in one format, or "mixed" (the cycle above).
FILE_FORMATS = ("mixed", *_FORMAT_CYCLE)
_JSON = frozenset({"jsonl", "jsonl.gz"})
_TEXT = _JSON | {"csv"}
_ANY = _TEXT | {"parquet"}
# Kind of bad record -> file formats able to carry it (Parquet is typed, CSV has no JSON).
BAD_KINDS: dict[str, frozenset[str]] = {
    "malformed_json": _JSON,
    "short_csv_row": frozenset({"csv"}),
    "missing_trade_id": _ANY,
    "invalid_symbol": _ANY,
    "invalid_side": _ANY,
    "non_numeric_price": _TEXT,
    "non_positive_price": _ANY,
    "price_too_large": _ANY,
    "zero_quantity": _ANY,
    "unparseable_timestamp": _TEXT,
    "timestamp_outside_day": _ANY,
    "missing_exchange": _ANY,
}
# Timestamp text forms: 0 "...Z", 1 "...+00:00", 2 "YYYY-MM-DD HH:MM:SS" (UTC implied),
# 3+ the same instant shown at a UTC offset (minutes).
_OFFSETS = (0, 0, 0, 120, -300, 330, 540)
_TS_WEIGHTS = (50, 10, 20, 5, 5, 5, 5)
# Interleaved so that any prefix mixes equities, crypto pairs and futures.
_POOL: tuple[tuple[str, float, str], ...] = (
    ("AAPL", 185, "0.01"),
    ("MSFT", 390, "0.01"),
    ("BTC-USD", 43e3, "0.01"),
    ("ES_F", 4800, "0.25"),
    ("NVDA", 480, "0.01"),
    ("JPM", 170, "0.01"),
    ("ETH-USD", 2500, "0.01"),
    ("AMZN", 155, "0.01"),
    ("TSLA", 240, "0.01"),
    ("CL_F", 72.5, "0.01"),
    ("SOL-USD", 95, "0.001"),
    ("KO", 60, "0.01"),
    ("GOOGL", 142, "0.01"),
    ("META", 370, "0.01"),
    ("DOGE-USD", 0.085, "0.00001"),
    ("NQ_F", 16800, "0.25"),
    ("XOM", 100, "0.01"),
    ("F", 12, "0.01"),
    ("GC_F", 2050, "0.1"),
    ("AMD", 145, "0.01"),
    ("ADA-USD", 0.52, "0.0001"),
    ("BAC", 34, "0.01"),
    ("WMT", 160, "0.01"),
)


class _Spec(NamedTuple):
    symbol: str
    base: float
    tick: Decimal


@dataclass(frozen=True)
class _Trade:
    """Canonical content of one trade (what a correct reader should load)."""

    trade_id: str
    symbol: str
    side: str
    price: Decimal
    quantity: Decimal
    ts: datetime
    exchange: str
    tick: Decimal


@dataclass(frozen=True)
class _Row:
    """One written record: a trade plus its cosmetic rendering and at most one defect."""

    trade: _Trade
    file: int
    trade_id: str | None
    symbol: str
    side: str
    price: Decimal | str
    quantity: Decimal
    timestamp: datetime | str
    exchange: str
    ts_form: int
    trim: bool
    quoted_price: bool
    extra: str | None
    bad: str | None


class _Num(str):
    """Text of an exact decimal, written unquoted as a JSON number."""


def _num(value: Decimal, trim: bool = False) -> _Num:
    # format(..., "f") never switches to exponent notation (str(Decimal("1E-8")) would).
    return _Num(format(value.normalize() if trim else value, "f"))


def _ts_text(ts: datetime, form: int) -> str:
    micro = ts.microsecond
    spec = "seconds" if micro == 0 else "milliseconds" if micro % 1000 == 0 else "microseconds"
    if form == 2:
        return ts.replace(tzinfo=None).isoformat(" ", spec)
    text = ts.astimezone(timezone(timedelta(minutes=_OFFSETS[form]))).isoformat(timespec=spec)
    return text.removesuffix("+00:00") + "Z" if form == 0 else text


def _exchanges(symbol: str) -> tuple[str, ...]:
    if symbol.endswith("-USD"):
        return ("GDAX", "KRKN", "BSTP")
    if symbol.endswith("_F"):
        return ("XCME",)
    return ("XNAS", "XNYS", "BATS", "CBOE")


def _pick_symbols(rng: random.Random, n: int) -> list[_Spec]:
    specs = [_Spec(sym, base, Decimal(tick)) for sym, base, tick in _POOL[:n]]
    used = {s.symbol for s in specs}
    while len(specs) < n:
        sym = "".join(rng.choice(string.ascii_uppercase) for _ in range(4))
        if sym not in used:
            used.add(sym)
            specs.append(_Spec(sym, round(rng.uniform(5, 500), 2), Decimal("0.01")))
    return specs


def _quantity(rng: random.Random, spec: _Spec) -> Decimal:
    if spec.symbol.endswith("-USD"):  # about up to $50k notional, 8 decimals
        return Decimal(rng.randint(1, int(50_000 / spec.base * 1e8))).scaleb(-8)
    if spec.symbol.endswith("_F"):
        return Decimal(rng.randint(1, 25))
    return Decimal(100 * rng.randint(1, 10) if rng.random() < 0.4 else rng.randint(1, 500))


def _make_trades(
    rng: random.Random, day: date, specs: list[_Spec], n: int, tag: str = ""
) -> list[_Trade]:
    start = datetime.combine(day, time(), tzinfo=UTC)
    weights = [1 / (i + 1) ** 0.7 for i in range(len(specs))]
    drafts: list[tuple[datetime, _Spec]] = []
    for _ in range(n):
        spec = rng.choices(specs, weights)[0]
        equity = not spec.symbol.endswith(("-USD", "_F"))
        lo, hi = (48_600, 75_600) if equity else (0, 86_400)  # equities: 13:30-21:00 UTC
        micros = rng.randrange(lo * 1_000_000, hi * 1_000_000)
        r = rng.random()
        micros -= micros % (1_000_000 if r < 0.3 else 1000 if r < 0.6 else 1)
        drafts.append((start + timedelta(microseconds=micros), spec))
    drafts.sort(key=lambda d: d[0])
    level = {s.symbol: s.base for s in specs}
    trades: list[_Trade] = []
    for i, (ts, spec) in enumerate(drafts, 1):
        walked = level[spec.symbol] * math.exp(rng.gauss(0, 0.0008))
        level[spec.symbol] = p = min(max(walked, spec.base * 0.5), spec.base * 1.5)
        price = max(spec.tick, (Decimal(f"{p:.8f}") / spec.tick).to_integral_value() * spec.tick)
        trades.append(
            _Trade(
                f"T{day:%Y%m%d}-{tag}{i:06d}",
                spec.symbol,
                rng.choice(("buy", "sell")),
                price,
                _quantity(rng, spec),
                ts,
                rng.choice(_exchanges(spec.symbol)),
                spec.tick,
            )
        )
    return trades


def _make_row(rng: random.Random, t: _Trade, file: int, bad: str | None = None) -> _Row:
    """Render a trade with random cosmetic variations and, if given, one defect."""
    symbol, side, r = t.symbol, t.side, rng.random()
    if r < 0.08:
        symbol = symbol.lower()
    elif r < 0.14:
        symbol = f" {symbol.lower() if r < 0.11 else symbol} "
    r = rng.random()
    if r < 0.08:
        side = side.upper()
    elif r < 0.14:
        side = f" {side.title()} "
    ts_form = rng.choices(range(len(_OFFSETS)), _TS_WEIGHTS)[0]
    trim, quoted = rng.random() < 0.15, rng.random() < 0.1
    extra = rng.choice(("venue_fee", "client_tag")) if rng.random() < 0.05 else None
    row = _Row(
        t,
        file,
        t.trade_id,
        symbol,
        side,
        t.price,
        t.quantity,
        t.ts,
        t.exchange,
        ts_form,
        trim,
        quoted,
        extra,
        bad,
    )
    if bad is None:
        return row
    odd = rng.random() < 0.5
    defects: dict[str, dict[str, Any]] = {
        "missing_trade_id": {"trade_id": None},
        "invalid_symbol": {"symbol": "AA PL" if odd else "$$$"},
        "invalid_side": {"side": "hold"},
        "non_numeric_price": {"price": "abc"},
        "non_positive_price": {"price": -t.price if odd else Decimal(0)},
        "price_too_large": {"price": Decimal(rng.randint(10**8, 10**9 - 1)).scaleb(-2)},
        "zero_quantity": {"quantity": Decimal(0)},
        "unparseable_timestamp": {"timestamp": "yesterday"},
        # A year and a day before: outside the day under any lateness window (at most
        # 366 days, contract.max_lateness_days), so it is a reject in every profile.
        "timestamp_outside_day": {"timestamp": t.ts - timedelta(days=367)},
        "missing_exchange": {"exchange": ""},
    }  # malformed_json and short_csv_row are applied when the line is written
    return replace(row, **defects.get(bad, {}))


def _text_values(row: _Row) -> dict[str, str | None]:
    """Field texts for JSON and CSV; ``None`` means absent, ``_Num`` an unquoted number."""
    price: str = row.price if isinstance(row.price, str) else _num(row.price, row.trim)
    if row.quoted_price and isinstance(price, _Num):
        price = str(price)
    fee = None
    if isinstance(row.price, Decimal):
        fee = _num((abs(row.price) * row.quantity * Decimal("0.00002")).quantize(Decimal("1E-8")))
    ts = row.timestamp
    ts = ts if isinstance(ts, str) else _ts_text(ts, row.ts_form)
    return {
        "trade_id": row.trade_id,
        "symbol": row.symbol,
        "side": row.side,
        "price": price,
        "quantity": _num(row.quantity, row.trim),
        "timestamp": ts,
        "exchange": row.exchange,
        "venue_fee": fee,
        "client_tag": f"desk-{row.trade.ts.second % 7 + 1}",
    }


def _json_line(row: _Row) -> str:
    values = _text_values(row)
    keys = [*COLUMNS, row.extra] if row.extra else list(COLUMNS)
    parts = [
        f"{json.dumps(k)}: {v if isinstance(v, _Num) else json.dumps(v)}"
        for k in keys
        if (v := values[k]) is not None
    ]
    line = "{" + ", ".join(parts) + "}"
    if row.bad == "malformed_json":  # truncated mid-key: '{"trade_id": "T...", ..., "pri'
        line = line[: line.index('"price"') + 4]
    return line


def _write_csv(path: Path, rows: list[_Row], columns: tuple[str, ...]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            values = _text_values(row)
            cells = [values[c] or "" for c in columns]
            writer.writerow(cells[:4] if row.bad == "short_csv_row" else cells)


def _write_parquet(path: Path, rows: list[_Row]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    # Rows routed here never carry text-only defects, so prices are Decimal, timestamps datetime.
    types = {
        "price": pa.decimal128(18, 8),
        "quantity": pa.decimal128(18, 8),
        "timestamp": pa.timestamp("us", tz="UTC"),
    }
    schema = pa.schema([(c, types.get(c, pa.string())) for c in COLUMNS])
    data = {c: [getattr(r, c) for r in rows] for c in COLUMNS}
    pq.write_table(pa.Table.from_pydict(data, schema=schema), str(path))


def _prepare_dir(folder: Path, overwrite: bool) -> None:
    existing = sorted(p for p in folder.iterdir() if not p.is_dir()) if folder.is_dir() else []
    if existing and not overwrite:
        raise FileExistsError(
            f"{folder} already holds {len(existing)} file(s); "
            "pass overwrite=True (--overwrite) to replace them"
        )
    for p in existing:
        p.unlink()
    folder.mkdir(parents=True, exist_ok=True)


@dataclass(frozen=True)
class _Shard:
    """One independently generated slice of a day (the whole day when not sharded)."""

    folder: Path
    out_root: Path
    day: date
    trades: int
    symbols: int
    files: int
    seed: int
    bad_ratio: float
    dupe_ratio: float
    file_format: str
    # Prefix of trade ids and file names ("" for an unsharded day, "003-" for shard 3).
    tag: str = ""
    # Sharded days pick their symbols from this seed so every shard trades the same ones.
    symbol_seed: int | None = None


def generate_day(
    out_root: Path,
    day: date,
    trades: int = 5000,
    symbols: int = 12,
    files: int = 6,
    seed: int = 42,
    bad_ratio: float = 0.03,
    dupe_ratio: float = 0.02,
    *,
    overwrite: bool = False,
    file_format: str = "mixed",
    shards: int = 1,
    workers: int | None = None,
) -> dict[str, Any]:
    """Write one messy day of raw trade files and describe them.

    Args:
        out_root: Raw root; files go to ``<out_root>/trades/date=<day>/``.
        day: Trading day; clean timestamps lie in [day 00:00Z, day+1 00:00Z).
        trades: Distinct trade_ids that a correct reader should load.
        symbols: Number of distinct symbols.
        files: Number of data files (formats cycle jsonl, csv, jsonl.gz, parquet).
        seed: Seed of the only random source; same arguments give byte-identical files.
        bad_ratio: Bad records written, as a fraction of ``trades``.
        dupe_ratio: Duplicate and conflicting records written, as a fraction of ``trades``.
        overwrite: Delete the files already in the date folder instead of refusing.
        file_format: ``mixed`` (the cycle above) or one of jsonl, csv, jsonl.gz, parquet
            for every file; bad kinds a format cannot carry are then not written.
        shards: Generate the day as this many independent slices (seeds ``seed + k``,
            trade ids ``T<day>-<kkk>-<n>``), in parallel and with bounded memory: how
            days of millions of trades are made. Duplicates stay within a slice.
        workers: Processes generating shards at once (default: the CPU count).

    Returns:
        Description with keys ``date``, ``files`` (``path`` relative to ``out_root``,
        ``format``, ``records``), ``records_written``, ``clean_trades``,
        ``exact_duplicates``, ``conflicting_versions`` and ``bad_by_kind``.

    Raises:
        ValueError: If a count is below 1, a ratio is outside [0, 1] or there are
            fewer files than shards.
        FileExistsError: If the date folder holds files and ``overwrite`` is false.
    """
    if min(trades, symbols, files, shards) < 1 or not (
        0 <= bad_ratio <= 1 and 0 <= dupe_ratio <= 1
    ):
        raise ValueError("trades, symbols, files and shards must be >= 1; ratios within [0, 1]")
    if file_format not in FILE_FORMATS:
        raise ValueError(f"file_format {file_format!r} is not one of {FILE_FORMATS}")
    if files < shards or trades < shards:
        raise ValueError(f"{shards} shards need at least {shards} files and {shards} trades")
    folder = out_root / "trades" / f"date={day.isoformat()}"
    _prepare_dir(folder, overwrite)
    whole = _Shard(
        folder, out_root, day, trades, symbols, files, seed, bad_ratio, dupe_ratio, file_format
    )
    if shards == 1:
        parts = [_write_shard(whole)]
    else:
        slices = [
            replace(
                whole,
                trades=trades // shards + (k < trades % shards),
                files=files // shards + (k < files % shards),
                seed=seed + k,
                tag=f"{k:03d}-",
                symbol_seed=seed,
            )
            for k in range(shards)
        ]
        # spawn, not fork: the caller may be a process with a JVM (PySpark) and threads.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            parts = list(pool.map(_write_shard, slices))
    described: dict[str, Any] = {
        "date": day.isoformat(),
        "files": [entry for part in parts for entry in part["files"]],
        "bad_by_kind": {
            kind: sum(part["bad_by_kind"][kind] for part in parts) for kind in sorted(BAD_KINDS)
        },
    }
    for key in ("records_written", "clean_trades", "exact_duplicates", "conflicting_versions"):
        described[key] = sum(part[key] for part in parts)
    for name, fmt in (("empty.jsonl", "empty"), ("_SUCCESS", "marker")):
        (folder / name).write_bytes(b"")
        described["files"].append(
            {"path": (folder / name).relative_to(out_root).as_posix(), "format": fmt, "records": 0}
        )
    return described


def _write_shard(shard: _Shard) -> dict[str, Any]:
    """Generate and write one slice of the day; describe what it wrote."""
    folder, out_root, day, trades, files = (
        shard.folder,
        shard.out_root,
        shard.day,
        shard.trades,
        shard.files,
    )
    bad_ratio, dupe_ratio, file_format = shard.bad_ratio, shard.dupe_ratio, shard.file_format
    rng = random.Random(shard.seed)
    symbol_rng = rng if shard.symbol_seed is None else random.Random(shard.symbol_seed)
    n_bad, n_dupes = round(trades * bad_ratio), round(trades * dupe_ratio)
    n_conflicts = min(n_dupes // 2, max(1, n_dupes // 10))
    base = _make_trades(
        rng, day, _pick_symbols(symbol_rng, shard.symbols), trades + n_bad, shard.tag
    )
    cycle = _FORMAT_CYCLE if file_format == "mixed" else (file_format,)
    formats = [cycle[i % len(cycle)] for i in range(files)]
    csv_files = [i for i, f in enumerate(formats) if f == "csv"]
    drift_csv = csv_files[-1] if len(csv_files) > 1 else None
    kinds = [k for k, allowed in BAD_KINDS.items() if allowed & set(formats)]
    rng.shuffle(kinds)  # round-robin over kinds from a seeded starting order
    bad_ids = set(rng.sample(range(len(base)), n_bad))
    bad_by_kind = dict.fromkeys(sorted(BAD_KINDS), 0)
    rows: list[_Row] = []
    clean: list[_Row] = []
    for i, trade in enumerate(base):
        if i in bad_ids:
            kind = kinds[sum(bad_by_kind.values()) % len(kinds)]
            targets = [j for j, f in enumerate(formats) if f in BAD_KINDS[kind]]
            rows.append(_make_row(rng, trade, rng.choice(targets), kind))
            bad_by_kind[kind] += 1
        else:
            clean.append(_make_row(rng, trade, rng.randrange(files)))
    rows += clean
    # Conflict: the original is the losing version; a corrected price with a later
    # timestamp (still inside the day) wins.
    day_end = datetime.combine(day, time(), tzinfo=UTC) + timedelta(days=1)
    eligible = [r for r in clean if r.trade.ts < day_end - timedelta(minutes=15)]
    conflicted = rng.sample(eligible, min(n_conflicts, len(eligible)))
    for row in conflicted:
        t = row.trade
        price = t.price + t.tick * rng.choice((-3, -2, -1, 1, 2, 3))
        fixed = replace(
            t,
            price=price if price > 0 else t.price + t.tick,
            ts=t.ts + timedelta(seconds=rng.randint(1, 900)),
        )
        rows.append(_make_row(rng, fixed, rng.randrange(files)))
    taken = {r.trade.trade_id for r in conflicted}
    pool = [r for r in clean if r.trade.trade_id not in taken]
    exact = n_dupes - len(conflicted) if pool else 0
    for _ in range(exact):
        src, target = rng.choice(pool), rng.randrange(files)
        if rng.random() < 0.5:  # identical rendering (byte-identical within one format)
            rows.append(replace(src, file=target))
        else:  # cosmetic differences only; keep the drift field so content stays equal
            rows.append(replace(_make_row(rng, src.trade, target), extra=src.extra))

    by_file: list[list[_Row]] = [[] for _ in formats]
    for row in rows:
        by_file[row.file].append(row)
    described: list[dict[str, Any]] = []
    for j, fmt in enumerate(formats):
        path = folder / f"part-{shard.tag}{j:05d}.{fmt}"
        recs = sorted(by_file[j], key=lambda r: (r.trade.ts, r.trade.trade_id))
        if fmt in _JSON:
            data = "".join(_json_line(r) + "\n" for r in recs).encode("utf-8")
            path.write_bytes(gzip.compress(data, mtime=0) if fmt == "jsonl.gz" else data)
        elif fmt == "csv":
            _write_csv(path, recs, _DRIFT_COLUMNS if j == drift_csv else COLUMNS)
        else:
            _write_parquet(path, recs)
        described.append(
            {"path": path.relative_to(out_root).as_posix(), "format": fmt, "records": len(recs)}
        )
    return {
        "files": described,
        "records_written": len(rows),
        "clean_trades": len(clean),
        "exact_duplicates": exact,
        "conflicting_versions": len(conflicted),
        "bad_by_kind": bad_by_kind,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the command line; print the description as one JSON line.

    Args:
        argv: Arguments without the program name; ``sys.argv[1:]`` when ``None``.

    Returns:
        0 on success, 1 if the date folder is not empty or an argument is invalid.
    """
    parser = argparse.ArgumentParser(
        prog="python -m tradelake.sample", description="Write a deterministic messy day of trades."
    )
    parser.add_argument("--date", required=True, type=date.fromisoformat, help="YYYY-MM-DD")
    parser.add_argument("--out", required=True, type=Path, help="raw root, e.g. ./lake/raw")
    parser.add_argument("--trades", type=int, default=5000)
    parser.add_argument("--symbols", type=int, default=12)
    parser.add_argument("--files", type=int, default=6)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--bad-ratio", type=float, default=0.03)
    parser.add_argument("--dupe-ratio", type=float, default=0.02)
    parser.add_argument(
        "--format",
        dest="file_format",
        choices=FILE_FORMATS,
        default="mixed",
        help="file format of every data file (default: mixed)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="delete the files already in the date folder"
    )
    parser.add_argument(
        "--shards",
        type=int,
        default=1,
        help="generate the day as N independent slices in parallel (for millions of trades)",
    )
    parser.add_argument("--workers", type=int, default=None, help="processes for --shards")
    args = parser.parse_args(argv)
    try:
        description = generate_day(
            args.out,
            args.date,
            args.trades,
            args.symbols,
            args.files,
            args.seed,
            args.bad_ratio,
            args.dupe_ratio,
            overwrite=args.overwrite,
            file_format=args.file_format,
            shards=args.shards,
            workers=args.workers,
        )
    except (FileExistsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(description, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
