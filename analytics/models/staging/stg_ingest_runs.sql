-- Ingest runs with the counts of their JSON summary (runtime.py writes it).
select
    run_id,
    run_date,
    status,
    exit_code,
    published,
    started_at,
    seconds,
    cast(json_extract_scalar(summary, '$.records_read') as bigint) as records_read,
    cast(json_extract_scalar(summary, '$.loaded') as bigint) as loaded,
    cast(json_extract_scalar(summary, '$.duplicates_dropped') as bigint) as duplicates_dropped,
    cast(json_extract_scalar(summary, '$.rejected') as bigint) as rejected,
    cast(json_extract_scalar(summary, '$.dead_letters') as bigint) as dead_letters
from {{ source('tradelake', 'job_runs') }}
where job = 'ingest'
