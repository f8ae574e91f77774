"""The Athena tier's lake and data: the trades both days hold, the dead letters, the lake
on moto's S3 and Glue, the Trino server (plain helpers; fixtures in conftest.py)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.lakes import FakeAws

DATABASE = "athena_e2e"
RAW_BUCKET = "tradelake-athena-raw"
LAKE_BUCKET = "tradelake-athena-lake"
DAYS = ("2025-01-15", "2025-01-16")
TRINO_VERSION = "476"
JAVA_HOME = os.environ.get("TRINO_JAVA_HOME", "/usr/lib/jvm/temurin-25-jdk-amd64")

CSV_HEADER = "trade_id,symbol,side,price,quantity,timestamp,exchange"


@dataclass(frozen=True)
class Trade:
    """One valid input trade, as written to the raw CSV (the expected values' source)."""

    trade_id: str
    symbol: str
    side: str
    price: Decimal
    quantity: Decimal
    timestamp: str
    exchange: str

    @property
    def day(self) -> str:
        return self.timestamp[:10]

    def csv(self) -> str:
        return ",".join(
            [self.trade_id, self.symbol, self.side, str(self.price), str(self.quantity)]
            + [self.timestamp, self.exchange]
        )


def _trade(line: str) -> Trade:
    trade_id, symbol, side, price, quantity, timestamp, exchange = line.split(",")
    return Trade(trade_id, symbol, side, Decimal(price), Decimal(quantity), timestamp, exchange)


# Two days, three symbols. T4 sits exactly on a minute boundary, T6/T7 on either side of
# an hour boundary, U4 has a fractional second.
TRADES = [
    _trade(line)
    for line in (
        "T1,AAPL,buy,100.00,10,2025-01-15T14:30:05Z,NASDAQ",
        "T2,AAPL,sell,101.50,5,2025-01-15T14:30:40Z,NASDAQ",
        "T3,AAPL,buy,99.75,20,2025-01-15T14:31:10Z,NASDAQ",
        "T4,MSFT,buy,400.00,2,2025-01-15T14:30:00Z,NASDAQ",
        "T5,MSFT,sell,401.25,4,2025-01-15T15:00:00Z,NASDAQ",
        "T6,TSLA,buy,250.10,1.5,2025-01-15T15:59:59Z,NASDAQ",
        "T7,TSLA,sell,249.90,0.5,2025-01-15T16:00:00Z,NASDAQ",
        "T8,AAPL,sell,102.00,1,2025-01-15T15:05:00Z,NASDAQ",
        "U1,AAPL,buy,103.00,3,2025-01-16T09:00:00Z,NYSE",
        "U2,AAPL,buy,104.00,7,2025-01-16T09:00:30Z,NYSE",
        "U3,MSFT,sell,402.00,10,2025-01-16T10:15:00Z,NYSE",
        "U4,MSFT,buy,403.50,2,2025-01-16T10:15:59.5Z,NYSE",
        "U5,AAPL,sell,105.00,1,2025-01-16T10:00:00Z,NYSE",
    )
]

# Rows the contract rejects, per day, with the reason codes each must get.
REJECTED = {
    "2025-01-15": [
        ("X1,AAPL,buy,abc,5,2025-01-15T10:00:00Z,NASDAQ", ["price_not_numeric"]),
        ("X2,,buy,10,5,2025-01-15T10:00:00Z,NASDAQ", ["symbol_missing"]),
        (
            "X3,AAPL,hold,10,-1,2025-01-15T10:00:00Z,NASDAQ",
            ["side_invalid", "quantity_out_of_range"],
        ),
    ],
    "2025-01-16": [
        ("X4,MSFT,buy,10.123456789,1,2025-01-16T10:00:00Z,NYSE", ["price_too_precise"]),
        ("X5,MSFT,buy,10,1,2025-01-15T10:00:00Z,NYSE", ["timestamp_outside_partition"]),
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
