"""Dead-letter replay: selected rows of ``trades_rejected`` written back as a landing file.

``python -m tradelake.replay export`` lands them, the normal ingest applies the contract,
``python -m tradelake.replay ledger`` says which dead letters are open and which replayed
(docs/replay.md).
"""
