"""Gold tables built per day from ``trades``: daily volume and OHLCV bars."""
