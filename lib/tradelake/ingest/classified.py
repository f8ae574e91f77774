"""The classified batch: what ``transform.classify_records`` produces and the checks read.

One row per raw record, with the validated columns of ``contract.validate_trades`` and:
``status`` (``LOADED``, ``DUPLICATE`` or ``REJECTED``), ``reasons`` (ARRAY<STRING>, with
``duplicate_conflict`` for losing versions) and ``loaded_with_id`` (loaded rows sharing
the row's trade_id: 1 when the dedupe is right).
"""

from __future__ import annotations

LOADED = "loaded"
DUPLICATE = "duplicate"
REJECTED = "rejected"
STATUSES = (LOADED, DUPLICATE, REJECTED)

STATUS = "status"
LOADED_WITH_ID = "loaded_with_id"
# The columns a loaded row must have; none may be null in ``trades``.
REQUIRED_COLUMNS = ("trade_id", "symbol", "side", "price", "quantity", "traded_at", "exchange")
# The normalized content two versions of a trade are compared on.
CONTENT_COLUMNS = ("symbol", "side", "price", "quantity", "traded_at", "exchange")
