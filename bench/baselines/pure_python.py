"""Yardstick: the day's ingest, dedupe and daily volume the way a pure-Python job does it.

python -m bench.baselines.pure_python --raw RAW_ROOT --date D --out DIR

One process, one core: each JSON line parsed with ``json.loads`` (numbers as Decimal),
validated by a pydantic model, deduplicated in a dict keyed by trade_id (latest
timestamp wins, exact copies dropped, other versions rejected), written with pyarrow
to Parquet (trades, rejects), then the daily volume per symbol aggregated in dicts.
The same rules as the contract where pydantic expresses them; not product code.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

Money = Annotated[Decimal, Field(gt=0, max_digits=18, decimal_places=8)]


class Trade(BaseModel):
    """One trade record as the contract describes it."""

    model_config = ConfigDict(str_strip_whitespace=True, frozen=True)

    trade_id: Annotated[str, StringConstraints(min_length=1)]
    symbol: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9_-]+$")]
    side: Literal["buy", "sell"]
    price: Annotated[Money, Field(lt=Decimal(1_000_000))]
    quantity: Annotated[Money, Field(le=Decimal(1_000_000_000))]
    timestamp: datetime
    exchange: Annotated[str, StringConstraints(min_length=1)]

    @field_validator("side", mode="before")
    @classmethod
    def _lower_side(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("symbol", mode="before")
    @classmethod
    def _upper_symbol(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("timestamp")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def ingest(files: list[Path], day: date) -> tuple[dict[str, Trade], list[dict[str, Any]], int]:
    """Loaded trades by id, rejects (record, reasons) and the number of exact duplicates."""
    start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    end = start + timedelta(days=1)
    winners: dict[str, Trade] = {}
    rejects: list[dict[str, Any]] = []
    duplicates = 0
    for path in files:
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line, parse_float=Decimal, parse_int=Decimal)
                    trade = Trade.model_validate(
                        {k: str(v) if isinstance(v, Decimal) else v for k, v in obj.items()}
                    )
                except (json.JSONDecodeError, AttributeError):
                    rejects.append({"record": line, "reasons": ["malformed_record"]})
                    continue
                except ValidationError as err:
                    fields = sorted({str(e["loc"][0]) for e in err.errors() if e["loc"]})
                    rejects.append({"record": line, "reasons": [f"{f}_invalid" for f in fields]})
                    continue
                if not start <= trade.timestamp < end:
                    rejects.append({"record": line, "reasons": ["timestamp_outside_partition"]})
                    continue
                current = winners.get(trade.trade_id)
                if current is None:
                    winners[trade.trade_id] = trade
                elif current == trade:
                    duplicates += 1
                else:
                    newer = (trade.timestamp, trade.symbol) > (current.timestamp, current.symbol)
                    loser = current if newer else trade
                    if newer:
                        winners[trade.trade_id] = trade
                    rejects.append(
                        {"record": loser.model_dump_json(), "reasons": ["duplicate_conflict"]}
                    )
    return winners, rejects, duplicates


def write_outputs(
    out: Path, day: date, trades: dict[str, Trade], rejects: list[dict[str, Any]]
) -> dict[str, int]:
    """Parquet for trades, rejects and the daily volume; rows written per output."""
    out.mkdir(parents=True, exist_ok=True)
    money = pa.decimal128(18, 8)
    rows = sorted(trades.values(), key=lambda t: (t.symbol, t.timestamp))
    table = pa.table(
        {
            "trade_id": pa.array([t.trade_id for t in rows], pa.string()),
            "symbol": pa.array([t.symbol for t in rows], pa.string()),
            "side": pa.array([t.side for t in rows], pa.string()),
            "price": pa.array([t.price for t in rows], money),
            "quantity": pa.array([t.quantity for t in rows], money),
            "traded_at": pa.array([t.timestamp for t in rows], pa.timestamp("us", tz="UTC")),
            "exchange": pa.array([t.exchange for t in rows], pa.string()),
        }
    )
    pq.write_table(table, out / "trades.parquet")
    pq.write_table(
        pa.table(
            {
                "record": [r["record"] for r in rejects],
                "reasons": pa.array([r["reasons"] for r in rejects], pa.list_(pa.string())),
            }
        ),
        out / "trades_rejected.parquet",
    )
    volume: dict[str, list[Any]] = {}
    for t in rows:
        entry = volume.setdefault(t.symbol, [0, Decimal(0), Decimal(0)])
        entry[0] += 1
        entry[1] += t.quantity
        entry[2] += t.price * t.quantity
    symbols = sorted(volume)
    pq.write_table(
        pa.table(
            {
                "trade_date": pa.array([day] * len(symbols), pa.date32()),
                "symbol": symbols,
                "trade_count": [volume[s][0] for s in symbols],
                "volume": pa.array([volume[s][1] for s in symbols], pa.decimal128(28, 8)),
                "notional": pa.array([volume[s][2] for s in symbols], pa.decimal128(38, 16)),
            }
        ),
        out / "daily_volume.parquet",
    )
    return {"trades": len(rows), "rejects": len(rejects), "daily_volume": len(symbols)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.baselines.pure_python")
    parser.add_argument("--raw", required=True, type=Path, help="raw root")
    parser.add_argument("--date", required=True, type=date.fromisoformat)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    started = time.monotonic()
    folder = args.raw / "trades" / f"date={args.date.isoformat()}"
    files = sorted(folder.glob("*.jsonl"))
    trades, rejects, duplicates = ingest(files, args.date)
    written = write_outputs(args.out, args.date, trades, rejects)
    print(
        json.dumps(
            {
                "loaded": written["trades"],
                "rejected": written["rejects"],
                "duplicates_dropped": duplicates,
                "daily_volume_rows": written["daily_volume"],
                "seconds": round(time.monotonic() - started, 3),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
