-- The top N symbols by notional (sum of price * quantity over trades) in a date range
-- (both ends included), ranked from 1; ties go to the alphabetically first symbol.
-- param: start_date date
-- param: end_date date
-- param: limit bigint
-- Athena accepts execution parameters in the WHERE clause only (not in LIMIT), so the
-- top N is a filter on a row number.
SELECT
    notional_rank,
    symbol,
    notional,
    volume,
    trade_count
FROM (
    SELECT
        symbol,
        SUM(price * quantity) AS notional,
        SUM(quantity) AS volume,
        COUNT(*) AS trade_count,
        ROW_NUMBER() OVER (ORDER BY SUM(price * quantity) DESC, symbol) AS notional_rank
    FROM trades
    WHERE trade_date BETWEEN ? AND ?
    GROUP BY symbol
) AS ranked
WHERE notional_rank <= ?
ORDER BY notional_rank
