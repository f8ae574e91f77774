"""Late reports for a landing: corrections and new trades of the days before it.

python -m bench.late_reports --date D --days 7 --count N --out FILE [--seed 7]

Reads day D of ``trades`` from the lake the ``TRADELAKE_*`` settings name (pyiceberg, no
Spark), picks ``count`` of its trades (seeded) and writes one report per pick as JSON
Lines, in the contract's raw form, for the days D-(days-1) .. D in turn: report i
belongs to day D - (i mod days), so the days get equal shares. Even i is a correction of
the picked trade on that day (``report_type`` correct, its ``report_seq`` + 1, the
quantity one higher, its time moved to that day); odd i a new trade of that day (a new
id, the picked trade's other fields). On a lake whose days before D are copies of D
(``bench/history.py``) every corrected trade exists on its day. Dropped into a later
landing's folder, these are that landing's late reports. Prints one JSON line: what was
written. Benchmark data, not a product tool.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from tradelake.catalog import sql_catalog
from tradelake.config import load_settings
from tradelake.contract import CORRECT, NEW
from tradelake.tables import TRADES

COLUMNS = ("trade_id", "symbol", "side", "price", "quantity", "traded_at", "exchange")


def day_trades(day: date) -> Any:
    """Day ``day`` of ``trades`` (``COLUMNS`` and ``report_seq``) as a pyarrow table, by id."""
    from pyiceberg import expressions

    settings = load_settings()
    catalog = sql_catalog(settings)
    if catalog is None:
        raise SystemExit(
            f"no embedded catalog at TRADELAKE_CATALOG_URI={settings.catalog_uri_resolved!r}: "
            "ingest the day first (jobs/ingest.py --date D)"
        )
    table = catalog.load_table(f"{settings.database}.{TRADES.name}")
    # Called untyped: pydantic's mypy plugin reads pyiceberg's predicates' model fields as
    # their constructor (tradelake.report.lake._predicate).
    equal_to: Any = expressions.EqualTo
    scanned = table.scan(
        row_filter=equal_to("trade_date", day.isoformat()),
        selected_fields=(*COLUMNS, "report_seq"),
    ).to_arrow()
    # Sorted, so the seeded picks do not depend on the order the files were scanned in.
    return scanned.sort_by("trade_id")


def _amount(value: Decimal) -> str:
    # format(..., "f") never switches to exponent notation (str(Decimal("1E-8")) would).
    return format(value, "f")


def late_report(trade: dict[str, Any], index: int, back: int) -> dict[str, Any]:
    """Report ``index`` of the file, for the day ``back`` days before ``trade``'s."""
    at: datetime = trade["traded_at"]
    traded_at = (at if at.tzinfo else at.replace(tzinfo=UTC)) - timedelta(days=back)
    correction = index % 2 == 0
    quantity: Decimal = trade["quantity"] + (1 if correction else 0)
    return {
        "trade_id": trade["trade_id"] if correction else f"L{traded_at:%Y%m%d}-{index:06d}",
        "symbol": trade["symbol"],
        "side": trade["side"],
        "price": _amount(trade["price"]),
        "quantity": _amount(quantity),
        "timestamp": traded_at.isoformat(),
        "exchange": trade["exchange"],
        "report_type": CORRECT if correction else NEW,
        "report_seq": ((trade["report_seq"] or 0) + 1) if correction else 0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.late_reports", description=__doc__)
    parser.add_argument("--date", required=True, type=date.fromisoformat, help="day D")
    parser.add_argument("--days", required=True, type=int, help="days D-(days-1) .. D")
    parser.add_argument("--count", required=True, type=int, help="reports to write")
    parser.add_argument("--out", required=True, type=Path, help="the JSON Lines file")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    started = time.monotonic()
    trades = day_trades(args.date)
    if not 0 < args.count <= trades.num_rows:
        raise SystemExit(
            f"--count {args.count}: day {args.date} of trades has {trades.num_rows} trades; "
            "ask for 1 to that many"
        )
    picked = random.Random(args.seed).sample(range(trades.num_rows), args.count)
    reports = [
        late_report(trade, index, index % args.days)
        for index, trade in enumerate(trades.take(picked).to_pylist())
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("".join(json.dumps(report) + "\n" for report in reports))
    by_date: dict[str, int] = {}
    for report in reports:
        key = report["timestamp"][:10]
        by_date[key] = by_date.get(key, 0) + 1
    print(
        json.dumps(
            {
                "reports": len(reports),
                "corrections": sum(r["report_type"] == CORRECT for r in reports),
                "new_trades": sum(r["report_type"] == NEW for r in reports),
                "by_date": dict(sorted(by_date.items())),
                "seconds": round(time.monotonic() - started, 3),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
