-- Dead letters without the raw record (it may hold personal data in clear).
select
    ingest_date,
    run_id,
    source_file,
    reasons,
    cardinality(reasons) as reason_count,
    rejected_at
from {{ source('tradelake', 'trades_rejected') }}
