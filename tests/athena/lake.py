"""The Athena tier's lake and data: the reports both landings carry, the trades they
resolve to, the dead letters, the lake on moto's S3 and Glue, the Trino server (plain
helpers; fixtures in conftest.py)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext
from pathlib import Path
from typing import Any

from tests.lakes import REPO, FakeAws

DATABASE = "athena_e2e"
RAW_BUCKET = "tradelake-athena-raw"
LAKE_BUCKET = "tradelake-athena-lake"
# The landings, ingested in this order; also the only trade days.
DAYS = ("2025-01-15", "2025-01-16")
# The ingests' window (TRADELAKE_CONTRACT__MAX_LATENESS_DAYS): a landing carries reports of
# its own day and the day before.
MAX_LATENESS_DAYS = 1
TRINO_VERSION = "476"
JAVA_HOME = os.environ.get("TRINO_JAVA_HOME", "/usr/lib/jvm/temurin-25-jdk-amd64")
VIEWS_DIR = REPO / "sql" / "athena" / "views"

CSV_HEADER = "trade_id,symbol,side,price,quantity,timestamp,exchange,report_type,report_seq"
EIGHT = Decimal("0.00000001")


def half_up(numerator: Decimal, denominator: Decimal) -> Decimal:
    """The exact quotient rounded half-up to 8 decimals (the expected side of a DECIMAL)."""
    with localcontext() as context:
        context.prec = 80
        return (numerator / denominator).quantize(EIGHT, rounding=ROUND_HALF_UP)


def raw_file(landing: str) -> str:
    """The key of a landing's one raw file in RAW_BUCKET."""
    return f"raw/trades/date={landing}/trades.csv"


@dataclass(frozen=True)
class Trade:
    """A trade's current state: its winning report (the expected values' source)."""

    trade_id: str
    symbol: str
    side: str
    price: Decimal
    quantity: Decimal
    timestamp: str
    exchange: str
    report_type: str
    report_seq: int
    landing: str

    @property
    def day(self) -> str:
        return self.timestamp[:10]


@dataclass(frozen=True)
class Report:
    """One report as written to its landing's raw CSV; empty fields are absent."""

    landing: str
    line: str

    def field(self, name: str) -> str:
        return dict(zip(CSV_HEADER.split(","), self.line.split(","), strict=True))[name]

    @property
    def trade_id(self) -> str:
        return self.field("trade_id")

    @property
    def day(self) -> str:
        return self.field("timestamp")[:10]

    @property
    def report_type(self) -> str:
        return self.field("report_type") or "new"

    @property
    def report_seq(self) -> int:
        return int(self.field("report_seq") or 0)

    def trade(self) -> Trade:
        """The trade as this report states it (a cancel states none)."""
        if self.report_type == "cancel":
            raise ValueError(f"{self.trade_id} in {self.landing}: a cancel states no trade")
        return Trade(
            self.trade_id,
            self.field("symbol"),
            self.field("side"),
            Decimal(self.field("price")),
            Decimal(self.field("quantity")),
            self.field("timestamp"),
            self.field("exchange"),
            self.report_type,
            self.report_seq,
            self.landing,
        )


# Both landings, as the raw CSVs carry them (an empty report_type or report_seq is absent:
# new, 0; T9's first report states them).
# The 15th: T4 sits exactly on a minute boundary, T6/T7 on either side of an hour
# boundary. The 16th: U4 has a fractional second; and four reports of the 15th: T2's
# correction, T9's cancel, T1 resent unchanged, T10 first reported a day late. GOOG's only
# trade (T10) and TSLA's two that stand (T6, T7) have the same notional, 500.10: the
# cancelled T9 would have put TSLA ahead.
LANDINGS = {
    "2025-01-15": [
        "T1,AAPL,buy,100.00,10,2025-01-15T14:30:05Z,NASDAQ,,",
        "T2,AAPL,sell,101.50,5,2025-01-15T14:30:40Z,NASDAQ,,",
        "T3,AAPL,buy,99.75,20,2025-01-15T14:31:10Z,NASDAQ,,",
        "T4,MSFT,buy,400.00,2,2025-01-15T14:30:00Z,NASDAQ,,",
        "T5,MSFT,sell,401.25,4,2025-01-15T15:00:00Z,NASDAQ,,",
        "T6,TSLA,buy,250.10,1.5,2025-01-15T15:59:59Z,NASDAQ,,",
        "T7,TSLA,sell,249.90,0.5,2025-01-15T16:00:00Z,NASDAQ,,",
        "T8,AAPL,sell,102.00,1,2025-01-15T15:05:00Z,NASDAQ,,",
        "T9,TSLA,buy,250.00,2,2025-01-15T15:30:00Z,NASDAQ,new,0",
    ],
    "2025-01-16": [
        "U1,AAPL,buy,103.00,3,2025-01-16T09:00:00Z,NYSE,,",
        "U2,AAPL,buy,104.00,7,2025-01-16T09:00:30Z,NYSE,,",
        "U3,MSFT,sell,402.00,10,2025-01-16T10:15:00Z,NYSE,,",
        "U4,MSFT,buy,403.50,2,2025-01-16T10:15:59.5Z,NYSE,,",
        "U5,AAPL,sell,105.00,1,2025-01-16T10:00:00Z,NYSE,,",
        "T2,AAPL,sell,101.25,6,2025-01-15T14:30:40Z,NASDAQ,correct,1",
        "T9,,,,,2025-01-15T15:30:00Z,,cancel,1",
        "T1,AAPL,buy,100.00,10,2025-01-15T14:30:05Z,NASDAQ,,",
        "T10,GOOG,buy,166.70,3,2025-01-15T20:00:00Z,NASDAQ,,",
    ],
}
REPORTS = [Report(landing, line) for landing, lines in LANDINGS.items() for line in lines]


def resolve(reports: list[Report]) -> list[Trade]:
    """The trades' current state: per (day, trade_id) the highest report_seq, then the
    latest landing, wins; a winning cancel leaves the trade out."""
    winners: dict[tuple[str, str], Report] = {}
    for report in reports:
        key = (report.day, report.trade_id)
        held = winners.get(key)
        if held is None or (report.report_seq, report.landing) > (held.report_seq, held.landing):
            winners[key] = report
    return [r.trade() for r in winners.values() if r.report_type != "cancel"]


# What `trades` must hold after both landings.
TRADES = resolve(REPORTS)

# Rows the contract rejects, per landing, with the reason codes each must get. X3 and X6
# both break side_invalid; X5 is a microsecond before the 16th's window.
REJECTED = {
    "2025-01-15": [
        ("X1,AAPL,buy,abc,5,2025-01-15T10:00:00Z,NASDAQ,,", ["price_not_numeric"]),
        ("X2,,buy,10,5,2025-01-15T10:00:00Z,NASDAQ,,", ["symbol_missing"]),
        (
            "X3,AAPL,hold,10,-1,2025-01-15T10:00:00Z,NASDAQ,,",
            ["side_invalid", "quantity_out_of_range"],
        ),
        ("X6,AAPL,short,10,1,2025-01-15T10:00:00Z,NASDAQ,,", ["side_invalid"]),
    ],
    "2025-01-16": [
        ("X4,MSFT,buy,10.123456789,1,2025-01-16T10:00:00Z,NYSE,,", ["price_too_precise"]),
        (
            "X5,MSFT,buy,10,1,2025-01-14T23:59:59.999999Z,NYSE,,",
            ["timestamp_outside_partition"],
        ),
    ],
}


@dataclass(frozen=True)
class AthenaLake:
    """The fake AWS after ingest, daily_volume and ohlcv (1m) ran for both days."""

    aws: FakeAws
    started_at: float
    finished_at: float


@dataclass(frozen=True)
class TrinoServer:
    """A running Trino coordinator whose ``iceberg`` catalog is the moto Glue catalog."""

    host: str
    port: int
    log: Path
    process: Any

    def connect(self) -> Any:
        import trino

        return trino.dbapi.connect(
            host=self.host,
            port=self.port,
            user="tradelake-tests",
            catalog="iceberg",
            schema=DATABASE,
            # Literals such as TIMESTAMP '2025-01-15 14:30:00' are read in the session
            # zone; Athena's is UTC.
            timezone="UTC",
        )


def fetch_rows(cursor: Any, sql: str) -> list[dict[str, Any]]:
    """The statement's rows, each as {column: value}, in the order Trino returns them."""
    cursor.execute(sql)
    rows = cursor.fetchall()
    columns = [column[0] for column in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in rows]
