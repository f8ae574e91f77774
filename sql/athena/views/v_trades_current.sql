-- The current state of every trade, resolved in SQL from trade_reports: per
-- (trade_date, trade_id) the report with the highest report_seq wins, then the latest
-- landing_date (then traded_at descending, source_file ascending, which only make the
-- order total); a trade whose winning report is a cancel has no row. The same rows as
-- trades, without run_id and ingested_at (the resolving run's). Analysts query trades,
-- which already is the current state; this view is a second implementation of the rule
-- that checks it.
-- Athena DDL (engine v3); tables are unqualified: create it in the tables' database.
CREATE OR REPLACE VIEW v_trades_current AS
SELECT
    trade_id,
    symbol,
    side,
    price,
    quantity,
    traded_at,
    exchange,
    trade_date,
    source_file,
    account_id,
    trader_email,
    report_type,
    report_seq,
    landing_date
FROM (
    SELECT
        r.*,
        ROW_NUMBER() OVER (
            PARTITION BY trade_date, trade_id
            ORDER BY report_seq DESC, landing_date DESC, traded_at DESC, source_file
        ) AS report_rank
    FROM trade_reports AS r
) AS ranked
WHERE report_rank = 1
    AND report_type <> 'cancel'
