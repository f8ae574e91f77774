-- Hourly OHLCV bars rolled up from the 1-minute bars of ohlcv_1m: one row per
-- (symbol, UTC hour) that had trades, labelled by the hour's start. open is the first
-- traded minute's open, close the last one's close. Forward-filled minutes (volume 0)
-- are skipped, so an hour without trades has no row. There is no vwap: the 1-minute
-- vwap is rounded to 8 decimals, so an hourly one rebuilt from it would not be exact;
-- compute it from trades (sum(price * quantity) / sum(quantity)) where it is needed.
-- Athena DDL (engine v3); tables are unqualified: create it in the tables' database.
CREATE OR REPLACE VIEW v_ohlcv_1h AS
SELECT
    trade_date,
    symbol,
    date_trunc('hour', bar_start) AS bar_start,
    min_by(open, bar_start) AS open,
    max(high) AS high,
    min(low) AS low,
    max_by(close, bar_start) AS close,
    sum(volume) AS volume,
    sum(trade_count) AS trade_count
FROM ohlcv_1m
WHERE trade_count > 0
GROUP BY trade_date, symbol, date_trunc('hour', bar_start)
