-- The 1-minute OHLCV bars of one symbol whose bar_start lies in [start_ts, end_ts)
-- (UTC; start included, end excluded), in time order. Bars without trades are absent
-- unless the ohlcv job ran with --fill forward.
-- param: symbol varchar
-- param: start_ts timestamp
-- param: end_ts timestamp
-- No trade_date filter needed: each data file holds one trade_date, so Iceberg's
-- per-file bar_start bounds already skip the files of other days.
SELECT
    symbol,
    bar_start,
    open,
    high,
    low,
    close,
    volume,
    trade_count,
    vwap
FROM ohlcv_1m
WHERE symbol = ?
    AND bar_start >= ?
    AND bar_start < ?
ORDER BY bar_start
