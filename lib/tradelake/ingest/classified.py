"""The classified batch: what ``transform.classify_records`` produces and the checks read.

One row per raw record, with the validated columns of ``contract.validate_trades`` and:
``status`` (``LOADED``, ``DUPLICATE`` or ``REJECTED``), ``reasons`` (ARRAY<STRING>, with
``duplicate_conflict`` for losing versions) and ``loaded_with_id`` (loaded rows sharing
the row's trade_id and report_seq: 1 when the dedupe is right).
"""

from __future__ import annotations

LOADED = "loaded"
DUPLICATE = "duplicate"
REJECTED = "rejected"
STATUSES = (LOADED, DUPLICATE, REJECTED)

STATUS = "status"
LOADED_WITH_ID = "loaded_with_id"
# The columns every loaded report must have, and those a cancel may leave out.
IDENTITY_COLUMNS = ("trade_id", "traded_at", "report_type", "report_seq")
REQUIRED_COLUMNS = (*IDENTITY_COLUMNS, "symbol", "side", "price", "quantity", "exchange")
# The normalized content two copies of one report (trade_id, report_seq) are compared on.
CONTENT_COLUMNS = ("report_type", "symbol", "side", "price", "quantity", "traded_at", "exchange")
