"""tradelake: raw trade files to validated, deduplicated Apache Iceberg tables."""

__version__ = "0.1.0"
