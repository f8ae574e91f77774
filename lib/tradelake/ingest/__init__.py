"""Pure DataFrame transforms of the ingest job (no reads, writes or actions)."""
