"""Writers of messy raw landing files, from Python literals, for job-level tests."""

from __future__ import annotations

import gzip
import json
import random
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

CSV_HEADER = "trade_id,symbol,side,price,quantity,timestamp,exchange"

# Each kind of damage the generator injects, and the reason code the contract gives it.
REASON_OF_KIND = {
    "malformed_json": "malformed_record",
    "short_csv_row": "malformed_record",
    "missing_trade_id": "trade_id_missing",
    "invalid_symbol": "symbol_invalid",
    "invalid_side": "side_invalid",
    "non_numeric_price": "price_not_numeric",
    "non_positive_price": "price_out_of_range",
    "price_too_large": "price_out_of_range",
    "zero_quantity": "quantity_out_of_range",
    "unparseable_timestamp": "timestamp_invalid",
    "timestamp_outside_day": "timestamp_outside_partition",
    "missing_exchange": "exchange_missing",
}


def expected_reasons(described: dict[str, Any]) -> dict[str, int]:
    """rejected_by_reason an ingest must report for a day tradelake.sample described."""
    reasons = {"duplicate_conflict": described["conflicting_versions"]}
    for kind, count in described["bad_by_kind"].items():
        reasons[REASON_OF_KIND[kind]] = reasons.get(REASON_OF_KIND[kind], 0) + count
    return {reason: count for reason, count in reasons.items() if count}


def day_folder(raw_root: str, day: str) -> Path:
    folder = Path(raw_root) / "trades" / f"date={day}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def write_lines(path: Path, lines: list[str]) -> None:
    data = ("\n".join(lines) + "\n").encode()
    if path.name.endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)


def json_line(**fields: Any) -> str:
    """A JSON object whose Decimal values are written as exact JSON numbers."""
    parts = []
    for key, value in fields.items():
        text = str(value) if isinstance(value, Decimal) else json.dumps(value)
        parts.append(f"{json.dumps(key)}: {text}")
    return "{" + ", ".join(parts) + "}"


def write_parquet(path: Path, rows: list[dict[str, Any]]) -> None:
    """Parquet with typed columns: DECIMAL(18,8) price, int quantity, UTC timestamp."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema(
        [
            ("trade_id", pa.string()),
            ("symbol", pa.string()),
            ("side", pa.string()),
            ("price", pa.decimal128(18, 8)),
            ("quantity", pa.int64()),
            ("timestamp", pa.timestamp("us", tz="UTC")),
            ("exchange", pa.string()),
            ("venue_fee", pa.float64()),
        ]
    )
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def write_truncated_gzip(path: Path, lines: int = 20000) -> None:
    """A .jsonl.gz cut in the middle of its compressed stream (an interrupted upload)."""
    rng = random.Random(7)
    body = "\n".join(
        json_line(trade_id=f"X{i}", symbol="AAPL", price=str(rng.random())) for i in range(lines)
    )
    data = gzip.compress(body.encode(), mtime=0)
    path.write_bytes(data[: len(data) // 2])
