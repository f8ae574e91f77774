-- The latest daily_volume row of each symbol: its most recent trade_date (a symbol
-- that did not trade on the table's latest day keeps its last day's row).
-- Athena DDL (engine v3); tables are unqualified: create it in the tables' database.
CREATE OR REPLACE VIEW v_daily_volume_latest AS
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
FROM (
    SELECT
        d.*,
        ROW_NUMBER() OVER (PARTITION BY symbol ORDER BY trade_date DESC) AS recency
    FROM daily_volume AS d
) AS ranked
WHERE recency = 1
