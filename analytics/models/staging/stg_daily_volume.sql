select
    trade_date,
    symbol,
    trade_count,
    total_volume,
    vwap,
    open_price,
    high_price,
    low_price,
    close_price,
    run_id
from {{ source('tradelake', 'daily_volume') }}
