-- Rejected records per ingest_date and reason code over a date range (both ends
-- included). A record that broke several rules counts once under each of its reasons.
-- param: start_date date
-- param: end_date date
SELECT
    ingest_date,
    reason,
    COUNT(*) AS rejected_records
FROM trades_rejected
CROSS JOIN UNNEST(reasons) AS r (reason)
WHERE ingest_date BETWEEN ? AND ?
GROUP BY ingest_date, reason
ORDER BY ingest_date, rejected_records DESC, reason
