-- Every accepted report; is_late: it came with a later day's landing.
select
    trade_date,
    landing_date,
    trade_id,
    report_type,
    report_seq,
    symbol,
    side,
    price,
    quantity,
    traded_at,
    exchange,
    landing_date > trade_date as is_late,
    run_id,
    ingested_at
from {{ source('tradelake', 'trade_reports') }}
