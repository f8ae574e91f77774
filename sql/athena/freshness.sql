-- Data freshness per table: its latest partition date (trade_reports: its latest
-- landing_date), the latest timestamp it holds (trades: traded_at, trade_reports:
-- ingested_at, trades_rejected: rejected_at, ohlcv_1m: bar_start, daily_volume: none),
-- and the latest run of the job that writes it (from job_runs: when it started, for
-- which date, its status) with the latest date that job published.
-- No parameters.
WITH latest_data AS (
    -- traded_at and bar_start always fall on their row's trade_date (the contract
    -- rejects anything else), so only the latest partition is scanned for them.
    SELECT
        'trades' AS table_name,
        'ingest' AS job,
        MAX(trade_date) AS latest_partition_date,
        MAX(traded_at) AS latest_timestamp
    FROM trades
    WHERE trade_date = (SELECT MAX(trade_date) FROM trades)
    UNION ALL
    -- A landing's reports can be of earlier days: its landing_date, not trade_date, says
    -- how far the version log has come.
    SELECT 'trade_reports', 'ingest', MAX(landing_date), MAX(ingested_at)
    FROM trade_reports
    UNION ALL
    SELECT 'trades_rejected', 'ingest', MAX(ingest_date), MAX(rejected_at)
    FROM trades_rejected
    UNION ALL
    SELECT 'daily_volume', 'daily_volume', MAX(trade_date), NULL
    FROM daily_volume
    UNION ALL
    SELECT 'ohlcv_1m', 'ohlcv', MAX(trade_date), MAX(bar_start)
    FROM ohlcv_1m
    WHERE trade_date = (SELECT MAX(trade_date) FROM ohlcv_1m)
),
latest_runs AS (
    -- job_runs has one "ohlcv" job for every interval: the runs of any ohlcv_* table.
    SELECT
        job,
        MAX(started_at) AS latest_run_started_at,
        MAX_BY(run_date, started_at) AS latest_run_date,
        MAX_BY(status, started_at) AS latest_run_status,
        MAX(CASE WHEN published THEN run_date END) AS latest_published_date
    FROM job_runs
    GROUP BY job
)
SELECT
    d.table_name,
    d.latest_partition_date,
    d.latest_timestamp,
    d.job,
    r.latest_run_started_at,
    r.latest_run_date,
    r.latest_run_status,
    r.latest_published_date
FROM latest_data AS d
LEFT JOIN latest_runs AS r ON r.job = d.job
ORDER BY d.table_name
