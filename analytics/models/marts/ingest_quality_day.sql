-- Per landing date, the latest ingest run: its outcome, its counts, whether they add up,
-- and the dead letters and trades the lake holds from it.
with latest_runs as (
    select
        run_date,
        max_by(run_id, started_at) as run_id,
        count(*) as runs
    from {{ ref('stg_ingest_runs') }}
    group by run_date
),

dead_letters as (
    select ingest_date, run_id, count(*) as dead_letters_in_table
    from {{ ref('stg_trades_rejected') }}
    group by ingest_date, run_id
)

select
    runs.run_date,
    runs.run_id,
    latest_runs.runs,
    runs.status,
    runs.published,
    runs.records_read,
    runs.loaded,
    runs.duplicates_dropped,
    runs.rejected,
    runs.records_read = runs.loaded + runs.duplicates_dropped + runs.rejected as conserved,
    runs.dead_letters,
    coalesce(dead_letters.dead_letters_in_table, 0) as dead_letters_in_table
from latest_runs
inner join {{ ref('stg_ingest_runs') }} as runs
    on runs.run_id = latest_runs.run_id
left join dead_letters
    on dead_letters.ingest_date = runs.run_date
    and dead_letters.run_id = runs.run_id
