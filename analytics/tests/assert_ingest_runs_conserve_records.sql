-- Every finished ingest run accounts for every record it read:
-- records_read = loaded + duplicates_dropped + rejected.
select run_id, run_date, records_read, loaded, duplicates_dropped, rejected
from {{ ref('stg_ingest_runs') }}
where records_read is not null
    and records_read <> loaded + duplicates_dropped + rejected
