"""The operations report and the run summaries for people, read with pyiceberg, no Spark.

``cli`` (``python -m tradelake.report``), ``lake`` (reads the tables), ``data`` (each
chart's rows, pyarrow), ``html`` (one offline page, plotly).
"""
