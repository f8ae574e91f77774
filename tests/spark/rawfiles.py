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
