-- Daily volume of one symbol over a date range (both ends included): one row per
-- trade_date, from the daily_volume gold table. Symbols are upper case, e.g. AAPL.
-- param: symbol varchar
-- param: start_date date
-- param: end_date date
SELECT
    trade_date,
    symbol,
    trade_count,
    total_volume,
    avg_price,
    vwap,
    open_price,
    high_price,
    low_price,
    close_price
FROM daily_volume
WHERE symbol = ?
    AND trade_date BETWEEN ? AND ?
ORDER BY trade_date
