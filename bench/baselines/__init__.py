"""Yardsticks, not product code: the same day's work done without Spark."""
