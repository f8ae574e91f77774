-- Per symbol and day: trades, volume, notional, VWAP, and how much of the day came from
-- corrections and late reports.
--
-- Incremental: a landing re-resolves its own day and up to lateness_days before it
-- (docs/jobs.md, late reports), so each run rebuilds the days from lateness_days before
-- its run_date (the Airflow DAG's logical date; a backfill of an old day reaches it) or,
-- without one, before the latest day the table holds; older days are final. On Trino,
-- delete+insert by trade_date replaces each rebuilt day whole (a symbol whose every trade
-- was cancelled leaves no row behind); Athena's Iceberg tables take a merge on
-- (trade_date, symbol).
{{
    config(
        materialized='incremental',
        incremental_strategy=('delete+insert' if target.type == 'trino' else 'merge'),
        unique_key=('trade_date' if target.type == 'trino' else ['trade_date', 'symbol']),
        on_schema_change='fail',
    )
}}

{% set lateness = "interval '" ~ var("lateness_days") ~ "' day" %}
{% if var("run_date", none) %}
    {% set rebuild_from = "(date '" ~ var("run_date") ~ "' - " ~ lateness ~ ")" %}
{% else %}
    {% set rebuild_from = "(select max(trade_date) - " ~ lateness ~ " from " ~ this ~ ")" %}
{% endif %}

with trades as (
    select * from {{ ref('stg_trades') }}
    {% if is_incremental() %}
    where trade_date >= {{ rebuild_from }}
    {% endif %}
),

reports as (
    select
        trade_date,
        symbol,
        count(*) as reports,
        count_if(is_late) as late_reports
    from {{ ref('stg_trade_reports') }}
    where symbol is not null
    {% if is_incremental() %}
        and trade_date >= {{ rebuild_from }}
    {% endif %}
    group by trade_date, symbol
),

days as (
    select
        trade_date,
        symbol,
        count(*) as trade_count,
        sum(quantity) as volume,
        sum(notional) as notional,
        count_if(report_type = 'correct') as corrected_trades
    from trades
    group by trade_date, symbol
)

select
    days.trade_date,
    days.symbol,
    days.trade_count,
    days.volume,
    days.notional,
    -- DECIMAL division: exact to the scale, rounded once.
    cast(days.notional / days.volume as decimal(18, 8)) as vwap,
    days.corrected_trades,
    coalesce(reports.reports, 0) as reports,
    coalesce(reports.late_reports, 0) as late_reports
from days
left join reports
    on reports.trade_date = days.trade_date
    and reports.symbol = days.symbol
