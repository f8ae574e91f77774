-- The gold daily volume counts exactly the rows of trades for each (trade_date, symbol)
-- it covers, with their exact total quantity.
with counted as (
    select trade_date, symbol, count(*) as trade_count, sum(quantity) as total_volume
    from {{ ref('stg_trades') }}
    group by trade_date, symbol
)

select gold.trade_date, gold.symbol, gold.trade_count, counted.trade_count as trades_rows
from {{ ref('stg_daily_volume') }} as gold
left join counted
    on counted.trade_date = gold.trade_date
    and counted.symbol = gold.symbol
where counted.trade_count is null
    or gold.trade_count <> counted.trade_count
    or gold.total_volume <> counted.total_volume
