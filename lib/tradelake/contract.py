"""The trade record contract: fields, normalization, rules and reason codes.

The single source of truth for what a valid trade is. Every rule is a native Spark
column expression: Spark 4 runs with ANSI mode on, so untrusted text is parsed only
with ``try_*`` functions and a value that does not parse becomes a reason code,
never an exception. No Python UDFs.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DecimalType,
    StringType,
    StructField,
    StructType,
)

from tradelake.config import PII_FIELDS, ContractSettings

FIELDS: tuple[str, ...] = (
    "trade_id",
    "symbol",
    "side",
    "price",
    "quantity",
    "timestamp",
    "exchange",
)

# Optional version fields: a record is a *report* of a trade. ``report_type`` says what it
# does (absent: new), ``report_seq`` orders the reports of one trade (absent: 0); the
# highest sequence number wins, and between equal ones the later landing.
VERSION_FIELDS: tuple[str, ...] = ("report_type", "report_seq")
NEW, CORRECT, CANCEL = "new", "correct", "cancel"
REPORT_TYPES: tuple[str, ...] = (NEW, CORRECT, CANCEL)
# report_seq is an INT in the tables: 0 to 2^31 - 1.
MAX_REPORT_SEQ = 2**31 - 1

# Optional personal data a raw trade may carry (config.PII_FIELDS). It is masked (keyed
# HMAC-SHA256) before it reaches `trades`; only the dead-letter table keeps raw records, for
# its retention period. Every field the readers extract; anything else is schema drift.
READ_FIELDS: tuple[str, ...] = FIELDS + VERSION_FIELDS + PII_FIELDS

# Data classification of each field, written as Iceberg column docs (Glue, Athena).
CLASSIFICATION: dict[str, str] = {
    "trade_id": "internal",
    "symbol": "public",
    "side": "public",
    "price": "public",
    "quantity": "public",
    "timestamp": "public",
    "exchange": "public",
    "account_id": "pii",
    "trader_email": "pii",
}

MONEY = DecimalType(18, 8)
# Wide enough to hold plausible input exactly, so "too large" and "too precise" differ.
WIDE_DECIMAL = DecimalType(38, 18)

# Stable reason codes written to trades_rejected.reasons. Append only: never rename one.
MALFORMED_RECORD = "malformed_record"
UNREADABLE_FILE = "unreadable_file"
DUPLICATE_CONFLICT = "duplicate_conflict"
REASON_CODES: tuple[str, ...] = (
    MALFORMED_RECORD,
    UNREADABLE_FILE,
    "trade_id_missing",
    "symbol_missing",
    "symbol_invalid",
    "side_missing",
    "side_invalid",
    "price_missing",
    "price_not_numeric",
    "price_out_of_range",
    "price_too_precise",
    "quantity_missing",
    "quantity_not_numeric",
    "quantity_out_of_range",
    "quantity_too_precise",
    "timestamp_missing",
    "timestamp_invalid",
    "timestamp_outside_partition",
    "timestamp_in_future",
    "exchange_missing",
    DUPLICATE_CONFLICT,
    "report_type_invalid",
    "report_seq_invalid",
)

SYMBOL_PATTERN = r"^[A-Z0-9_-]+$"
# A sequence number is plain decimal digits (no sign, point or exponent), at most
# MAX_REPORT_SEQ: checked on the text, so "1e3" or "7.0" never pass as an integer.
REPORT_SEQ_PATTERN = r"^[0-9]+$"
SIDES = ("buy", "sell")
# Plain decimal or scientific notation; NaN, Infinity, hex and thousands separators are not.
NUMBER_PATTERN = r"^[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?$"
# The parts of number text: sign, whole digits, fraction digits, exponent.
NUMBER_PARTS = r"^([+-]?)([0-9]*)[.]?([0-9]*)(?:[eE]([+-]?[0-9]+))?$"
# Plain number text this short has at most 18 decimals and 19 digits: one DECIMAL(38,18)
# cast reads it exactly.
_SHORT_PLAIN = 19
# Integer digits DECIMAL(38,18) holds; a value with more is too large for any bound.
_MAX_POINT = WIDE_DECIMAL.precision - WIDE_DECIMAL.scale
# Exponents beyond this only say "astronomically large" or "small" (keeps arithmetic safe).
_EXPONENT_CLAMP = 1_000_000_000
# A timestamp needs a date and a time of day; a bare date is not an instant.
TIMESTAMP_SHAPE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}"
# Hours and minutes with a zone, which Spark's parser refuses without the seconds.
MINUTES_WITH_ZONE = r"^([0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2})(Z|[+-][0-9]{2}:[0-9]{2})$"

# What every raw reader produces: contract fields as text, plus provenance.
RAW_SCHEMA = StructType(
    [
        StructField("source_file", StringType(), False),
        StructField("record", StringType(), True),
        StructField("malformed", BooleanType(), False),
        *[StructField(name, StringType(), True) for name in READ_FIELDS],
        StructField("extra_fields", ArrayType(StringType(), False), True),
    ]
)


def clean_text(column: Column) -> Column:
    """Trim surrounding ASCII whitespace; text empty after trimming is missing (null)."""
    # Spark's trim() strips spaces only; tabs and line ends are as common around values.
    trimmed = F.btrim(column, F.lit(" \t\r\n\f\u000b"))
    return F.when(trimmed != "", trimmed)


def is_number_text(column: Column) -> Column:
    """True where the text is a finite decimal number, plain or scientific."""
    return column.rlike(NUMBER_PATTERN)


def parse_decimal(column: Column) -> Column:
    """Parse number text into DECIMAL(38,18); null if not a number or too large.

    Exact only for text of at most 18 decimals; ``amount_stages`` decides exactness
    from the text itself.
    """
    return F.when(is_number_text(column), column.try_cast(WIDE_DECIMAL))


def parse_timestamp(column: Column) -> Column:
    """Parse ISO-8601 text to a UTC timestamp; null where it does not parse.

    ``Z`` and offsets such as ``+02:00`` are converted to UTC; text without an offset
    is read as UTC because the session time zone is always UTC. ``10:00Z`` (hours and
    minutes with a zone, no seconds) is read as ``10:00:00Z``.
    """
    # Only the two lengths of that form are rewritten: no regex runs for the others.
    minutes_with_zone = F.length(column).isin(
        len("2025-01-15T10:00Z"), len("2025-01-15T10:00+02:00")
    )
    with_seconds = F.when(
        minutes_with_zone, F.regexp_replace(column, MINUTES_WITH_ZONE, "$1:00$2")
    ).otherwise(column)
    return F.when(column.rlike(TIMESTAMP_SHAPE), F.try_to_timestamp(with_seconds))


def utc_literal(moment: datetime | date) -> Column:
    """A timestamp literal that cannot pick up the Python process's local time zone."""
    if isinstance(moment, datetime):
        text = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    else:
        text = f"{moment.isoformat()}T00:00:00Z"
    return F.to_timestamp(F.lit(text))


def amount_stages(frame: DataFrame, *fields: str) -> DataFrame:
    """Add the stage columns of each price or quantity, from its trimmed ``_<field>_text``.

    Output per field: ``_<field>_is_number``; ``_<field>_value``, the exact value truncated
    toward zero at 18 decimals (null when 1e20 or more); ``_<field>_positive``, whether
    the exact value is above zero (however small: truncation may give 0);
    ``_<field>_places``, the decimals the exact value needs (trailing zeros do not count;
    capped at 19: only "more than 8" and "more than 18" matter).

    Short plain text (at most 19 characters, no exponent: at most 18 decimals and 19
    digits, which DECIMAL(38,18) holds exactly) is read with one cast. Longer text and
    exponents are taken apart (``NUMBER_PARTS``), since a cast rounds beyond its scale
    (``1.0000000000000000001`` becomes 1) and an exponent moves digits anywhere: the
    value is rebuilt as plain text, truncated, and cast. Each step is its own stage, so
    every part is computed once and the generated code stays small.
    """
    shapes = frame.select(
        "*",
        *[
            column
            for field in fields
            for column in (
                is_number_text(F.col(f"_{field}_text")).alias(f"_{field}_is_number"),
                (
                    (F.length(f"_{field}_text") <= _SHORT_PLAIN)
                    & ~F.col(f"_{field}_text").contains("e")
                    & ~F.col(f"_{field}_text").contains("E")
                ).alias(f"_{field}_short"),
            )
        ],
    )

    def parts(field: str) -> Column:
        text = F.col(f"_{field}_text")
        exponent_text = F.regexp_extract(text, NUMBER_PARTS, 4)
        # An exponent too long for a BIGINT only says "astronomically large" or "small".
        exponent = F.coalesce(
            exponent_text.try_cast("bigint"),
            F.when(exponent_text == "", F.lit(0)),
            F.when(exponent_text.startswith("-"), F.lit(-_EXPONENT_CLAMP)).otherwise(
                F.lit(_EXPONENT_CLAMP)
            ),
        )
        whole = F.regexp_extract(text, NUMBER_PARTS, 2)
        return F.when(
            F.col(f"_{field}_is_number") & ~F.col(f"_{field}_short"),
            F.struct(
                F.regexp_extract(text, NUMBER_PARTS, 1).alias("sign"),
                F.length(whole).alias("whole_digits"),
                F.concat(whole, F.regexp_extract(text, NUMBER_PARTS, 3)).alias("digits"),
                F.least(
                    F.greatest(exponent, F.lit(-_EXPONENT_CLAMP)), F.lit(_EXPONENT_CLAMP)
                ).alias("exponent"),
            ),
        ).alias(f"_{field}_parts")

    with_parts = shapes.select("*", *[parts(field) for field in fields])

    def digits(field: str) -> Column:
        part = F.col(f"_{field}_parts")
        significant = F.ltrim(part["digits"], F.lit("0"))  # leading zeros carry no value
        # The value is 0.<significant> x 10^point.
        point = (
            part["whole_digits"]
            + part["exponent"]
            - (F.length(part["digits"]) - F.length(significant))
        )
        return F.when(
            part.isNotNull(),
            F.struct(
                part["sign"].alias("sign"),
                significant.alias("significant"),
                point.alias("point"),
            ),
        ).alias(f"_{field}_digits")

    with_digits = with_parts.select("*", *[digits(field) for field in fields])
    return with_digits.select(
        *[name for name in with_digits.columns if not name.endswith(("_parts", "_digits"))],
        *[column for field in fields for column in _amount_values(field)],
    )


def _amount_values(field: str) -> list[Column]:
    text, number = F.col(f"_{field}_text"), F.col(f"_{field}_is_number")
    short_plain = number & F.col(f"_{field}_short")
    short = text.try_cast(WIDE_DECIMAL)
    part = F.col(f"_{field}_digits")
    sign, significant, point = part["sign"], part["significant"], part["point"]
    integer_part = F.when(point <= 0, F.lit("0")).otherwise(
        F.rpad(F.substring(significant, 1, _MAX_POINT), point.cast("int"), "0")
    )
    fraction_part = F.when(
        point >= 0, F.substring(significant, point.cast("int") + 1, WIDE_DECIMAL.scale)
    ).otherwise(
        F.substring(
            F.concat(F.repeat(F.lit("0"), (-point).cast("int")), significant),
            1,
            WIDE_DECIMAL.scale,
        )
    )
    plain = F.concat(sign, integer_part, F.lit("."), F.rpad(fraction_part, WIDE_DECIMAL.scale, "0"))
    truncated = (
        F.when(significant == "", F.lit(0).cast(WIDE_DECIMAL))
        .when((point <= _MAX_POINT) & (point >= -WIDE_DECIMAL.scale), plain.try_cast(WIDE_DECIMAL))
        .when(point < -WIDE_DECIMAL.scale, F.lit(0).cast(WIDE_DECIMAL))
    )
    kept = F.rtrim(significant, F.lit("0"))  # trailing zeros carry no decimals
    places = F.when(kept == "", F.lit(0)).otherwise(F.greatest(F.length(kept) - point, F.lit(0)))
    money_places = F.when(short != short.try_cast(MONEY), F.lit(MONEY.scale + 1)).otherwise(0)
    return [
        F.when(short_plain, short).when(number, truncated).alias(f"_{field}_value"),
        F.when(short_plain, short > 0)
        .when(number, (sign != "-") & (significant != ""))
        .alias(f"_{field}_positive"),
        F.when(short_plain, money_places)
        .when(number, F.least(places, F.lit(WIDE_DECIMAL.scale + 1)))
        .alias(f"_{field}_places"),
    ]


def _amount_rules(
    field: str, max_value: Decimal, max_exclusive: bool, required: Column
) -> tuple[Column, list[tuple[str, Column]]]:
    """Parsed DECIMAL(18,8) value of a price or quantity and its (reason, broken) pairs.

    ``required``: where a missing value is a reason (every report but a cancel).

    Range is decided on the exact value: truncation at 18 decimals keeps every
    comparison with a bound of at most 18 decimals exact, except "equal to the bound",
    which only holds when nothing was cut off.
    """
    text, number = F.col(f"_{field}_text"), F.col(f"_{field}_is_number")
    value, places = F.col(f"_{field}_value"), F.col(f"_{field}_places")
    bound = F.lit(max_value)
    cut_off = places > WIDE_DECIMAL.scale
    above_max = value >= bound if max_exclusive else (value > bound) | ((value == bound) & cut_off)
    out_of_range = number & (value.isNull() | ~F.col(f"_{field}_positive") | above_max)
    # Rounding money silently is never acceptable: more than 8 decimals is a reject.
    too_precise = ~out_of_range & (places > MONEY.scale)
    rules = [
        (f"{field}_missing", text.isNull() & required),
        (f"{field}_not_numeric", ~number),
        (f"{field}_out_of_range", out_of_range),
        (f"{field}_too_precise", too_precise),
    ]
    return value.try_cast(MONEY), rules


def reasons_array(rules: list[tuple[str, Column]]) -> Column:
    """ARRAY<STRING> of the codes whose condition is true, in contract order."""
    # flatten of one- or zero-element arrays: unlike filter() with a lambda, which Spark
    # evaluates without code generation (and every rule beneath it with it).
    none = F.array().cast(ArrayType(StringType(), False))
    return F.flatten(
        F.array(*[F.when(broken, F.array(F.lit(code))).otherwise(none) for code, broken in rules])
    )


def validate_trades(
    raw: DataFrame, day: date, now: datetime, contract: ContractSettings
) -> DataFrame:
    """Normalize raw text fields, parse them, and list every rule each record breaks.

    Input: ``RAW_SCHEMA`` (source_file, record, malformed, the contract fields as text,
    extra_fields). Output, one row per input row: source_file, record, extra_fields,
    trade_id, symbol, side, price, quantity (DECIMAL(18,8)), traded_at (TIMESTAMP),
    exchange, report_type (``new`` when absent), report_seq (INT, 0 when absent),
    trade_date (the UTC date of traded_at), account_id and trader_email (trimmed; e-mail
    lower-cased; still in clear), and reasons (ARRAY<STRING>, empty when the record is
    valid).

    ``day`` is the landing day: a valid record's trade_date is within
    ``[day - contract.max_lateness_days, day]``.
    """
    # Each parsed value is computed once, in its own stage, and the rules refer to it:
    # Spark does not merge a stage whose non-trivial columns are used more than once.
    texts = raw.select(
        "source_file",
        "record",
        "extra_fields",
        "malformed",
        clean_text(F.col("trade_id")).alias("trade_id"),
        F.upper(clean_text(F.col("symbol"))).alias("symbol"),
        F.lower(clean_text(F.col("side"))).alias("side"),
        clean_text(F.col("exchange")).alias("exchange"),
        F.lower(clean_text(F.col("report_type"))).alias("_report_type_text"),
        clean_text(F.col("report_seq")).alias("_report_seq_text"),
        clean_text(F.col("timestamp")).alias("_timestamp_text"),
        clean_text(F.col("price")).alias("_price_text"),
        clean_text(F.col("quantity")).alias("_quantity_text"),
        # Personal data stays in clear only in memory; to_trades masks it.
        clean_text(F.col("account_id")).alias("account_id"),
        F.lower(clean_text(F.col("trader_email"))).alias("trader_email"),
    )
    amounts = amount_stages(texts, "price", "quantity")
    seq_text = F.col("_report_seq_text")
    parsed = amounts.select(
        "*",
        parse_timestamp(F.col("_timestamp_text")).alias("traded_at"),
        F.coalesce(F.col("_report_type_text"), F.lit(NEW)).alias("report_type"),
        # Digits only, then a BIGINT read (null beyond it) checked against the INT range.
        F.when(seq_text.isNull(), F.lit(0))
        .when(
            seq_text.rlike(REPORT_SEQ_PATTERN)
            & (seq_text.try_cast("bigint") <= F.lit(MAX_REPORT_SEQ)),
            seq_text.try_cast("bigint"),
        )
        .cast("int")
        .alias("report_seq"),
    )
    # A cancel names its trade (trade_id) and its day (timestamp); what else it carries is
    # checked when present, never required.
    required = F.col("report_type") != CANCEL
    price, price_rules = _amount_rules(
        "price", contract.max_price, max_exclusive=True, required=required
    )
    quantity, quantity_rules = _amount_rules(
        "quantity", contract.max_quantity, max_exclusive=False, required=required
    )
    # The landing's window: its own day and max_lateness_days before it (never the clock).
    window_start = utc_literal(day - timedelta(days=contract.max_lateness_days))
    window_end = utc_literal(day + timedelta(days=1))
    latest_allowed = utc_literal(now + timedelta(seconds=contract.future_tolerance_seconds))
    symbol, side, traded_at = F.col("symbol"), F.col("side"), F.col("traded_at")
    timestamp_text = F.col("_timestamp_text")

    def missing(column: Column) -> Column:
        return column.isNull() & required

    rules = [
        ("trade_id_missing", F.col("trade_id").isNull()),
        ("symbol_missing", missing(symbol)),
        ("symbol_invalid", ~symbol.rlike(SYMBOL_PATTERN)),
        ("side_missing", missing(side)),
        ("side_invalid", ~side.isin(*SIDES)),
        *price_rules,
        *quantity_rules,
        ("timestamp_missing", timestamp_text.isNull()),
        ("timestamp_invalid", timestamp_text.isNotNull() & traded_at.isNull()),
        ("timestamp_outside_partition", (traded_at < window_start) | (traded_at >= window_end)),
        ("timestamp_in_future", traded_at > latest_allowed),
        ("exchange_missing", missing(F.col("exchange"))),
        ("report_type_invalid", ~F.col("report_type").isin(*REPORT_TYPES)),
        ("report_seq_invalid", seq_text.isNotNull() & F.col("report_seq").isNull()),
    ]
    reasons = F.when(F.col("malformed"), F.array(F.lit(MALFORMED_RECORD))).otherwise(
        reasons_array(rules)
    )
    return parsed.select(
        "source_file",
        "record",
        "extra_fields",
        "trade_id",
        "symbol",
        "side",
        price.alias("price"),
        quantity.alias("quantity"),
        "traded_at",
        "exchange",
        "report_type",
        "report_seq",
        # The trade's day (UTC: the session time zone); the landing day is the batch's.
        F.to_date("traded_at").alias("trade_date"),
        "account_id",
        "trader_email",
        reasons.alias("reasons"),
    )
