# syntax=docker/dockerfile:1
# tradelake on the official Spark image, for the spark-operator (k8s/) and ad-hoc runs:
#
#   docker build -t <registry>/tradelake:<version> .
#
# The build steps (pinned jars, the wheel, its virtualenv) are docker/build.sh, which CI
# runs too (tests/unit/test_k8s.py). Spark's version follows pyspark's pin in pyproject.toml.
ARG SPARK_IMAGE=apache/spark:4.1.4-scala2.13-java17-python3-ubuntu
# The Spark image is Ubuntu 22.04, whose python3 is 3.10; tradelake needs 3.11+.
ARG PYTHON=python3.11

FROM ${SPARK_IMAGE} AS build
ARG PYTHON
USER root
RUN set -eux; \
    apt-get update; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        "${PYTHON}" "${PYTHON}-venv"; \
    rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY lib/ lib/
COPY jobs/ jobs/
COPY conf/ conf/
COPY docker/ docker/
COPY requirements/runtime.txt requirements/
RUN PYTHON="${PYTHON}" PIP_ROOT_USER_ACTION=ignore \
    docker/build.sh /stage --venv /opt/tradelake/venv

FROM ${SPARK_IMAGE}
ARG PYTHON
LABEL org.opencontainers.image.title="tradelake" \
      org.opencontainers.image.description="PySpark jobs: raw trade files to validated Apache Iceberg tables"
USER root
RUN set -eux; \
    apt-get update; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${PYTHON}"; \
    rm -rf /var/lib/apt/lists/*
# Exactly the project's jar list (lib/tradelake/jars.py), next to Spark's own jars.
COPY --from=build /stage/jars/ /opt/spark/jars/
COPY --from=build /opt/tradelake/venv/ /opt/tradelake/venv/
COPY --from=build /stage/jobs/ /opt/tradelake/jobs/
COPY --from=build /stage/conf/ /opt/tradelake/conf/
ENV PYSPARK_PYTHON=/opt/tradelake/venv/bin/python \
    PYSPARK_DRIVER_PYTHON=/opt/tradelake/venv/bin/python \
    TRADELAKE_CONF_DIR=/opt/tradelake/conf \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/opt/spark/work-dir
# The image's PySpark (/opt/spark/python) is the one tradelake uses, also outside
# spark-submit; then every job must import and show its flags.
RUN set -eux; \
    site="$("$PYSPARK_PYTHON" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"; \
    printf '%s\n' /opt/spark/python /opt/spark/python/lib/py4j-*-src.zip > "$site/spark.pth"; \
    for job in /opt/tradelake/jobs/*.py; do "$PYSPARK_PYTHON" "$job" --help > /dev/null; done; \
    install -d -o 185 -g 185 -m 0775 /opt/spark/work-dir /opt/spark/work-dir/.ivy2
WORKDIR /opt/spark/work-dir
# Spark's user (uid 185) from the base image; numeric so runAsNonRoot can check it.
USER 185
