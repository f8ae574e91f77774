-- The current state of every trade, as analysts use it (personal data left out).
select
    trade_date,
    trade_id,
    symbol,
    side,
    price,
    quantity,
    price * quantity as notional,
    traded_at,
    exchange,
    report_type,
    report_seq,
    landing_date,
    run_id,
    ingested_at
from {{ source('tradelake', 'trades') }}
