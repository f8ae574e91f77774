-- Every report of every trade, with what became of it: outcome is 'current' for the
-- report trades shows, 'cancelled' for a winning cancel (the trade has no row in
-- trades), 'superseded' for every report a later one replaced (the winner as in
-- v_trades_current: highest report_seq, then latest landing_date). is_current says
-- whether the report is the trade's row in trades; report_rank orders a trade's reports
-- (1: the winner, 2: the one it replaced, and so on); lateness_days how many days after
-- its trade_date it landed (0: in its own day's landing).
-- Filter on trade_date (and trade_id) to read one day's partitions only, e.g.
-- WHERE trade_date = DATE '2025-01-15' AND trade_id = 'T1' ORDER BY report_rank.
-- Athena DDL (engine v3); tables are unqualified: create it in the tables' database.
CREATE OR REPLACE VIEW v_trade_report_history AS
SELECT
    trade_date,
    trade_id,
    report_rank,
    report_type,
    report_seq,
    landing_date,
    date_diff('day', trade_date, landing_date) AS lateness_days,
    CASE
        WHEN report_rank > 1 THEN 'superseded'
        WHEN report_type = 'cancel' THEN 'cancelled'
        ELSE 'current'
    END AS outcome,
    report_rank = 1 AND report_type <> 'cancel' AS is_current,
    symbol,
    side,
    price,
    quantity,
    traded_at,
    exchange,
    source_file,
    run_id,
    ingested_at,
    account_id,
    trader_email
FROM (
    SELECT
        r.*,
        ROW_NUMBER() OVER (
            PARTITION BY trade_date, trade_id
            ORDER BY report_seq DESC, landing_date DESC, traded_at DESC, source_file
        ) AS report_rank
    FROM trade_reports AS r
) AS ranked
