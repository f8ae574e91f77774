"""The one list of JVM jars every tradelake Spark process needs.

spark-submit.sh, the test fixtures, CI and the container build all take their jars
from here, so a version bump happens in one place. Jars are fetched from Maven
Central once, checked against their SHA-1, and cached in ``TRADELAKE_JARS_DIR``
(default ``./.jars``).

    python -m tradelake.jars fetch     # download what is missing, print the paths
    python -m tradelake.jars paths     # comma-separated list for --jars / spark.jars
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ICEBERG_VERSION = "1.11.0"
SPARK_SCALA = "4.1_2.13"
DEFAULT_MAVEN_REPO = "https://repo1.maven.org/maven2"


@dataclass(frozen=True)
class Jar:
    """One Maven artifact pinned by version and SHA-1."""

    group: str
    artifact: str
    version: str
    sha1: str

    @property
    def file_name(self) -> str:
        return f"{self.artifact}-{self.version}.jar"

    @property
    def coordinate(self) -> str:
        return f"{self.group}:{self.artifact}:{self.version}"

    def url(self, repo: str) -> str:
        group_path = self.group.replace(".", "/")
        return f"{repo}/{group_path}/{self.artifact}/{self.version}/{self.file_name}"


BASE_JARS: tuple[Jar, ...] = (
    Jar(
        "org.apache.iceberg",
        f"iceberg-spark-runtime-{SPARK_SCALA}",
        ICEBERG_VERSION,
        "f9b1e4a18797c58ae406104ef5c75d1b64a373c5",
    ),
    # S3FileIO, GlueCatalog and the AWS SDK v2, shaded: what Glue 6.0 ships.
    Jar(
        "org.apache.iceberg",
        "iceberg-aws-bundle",
        ICEBERG_VERSION,
        "afe5b22dd5bc2d2c0639049b06a92dae2545cac7",
    ),
    # The embedded JDBC catalog keeps its pointers in a SQLite file.
    Jar("org.xerial", "sqlite-jdbc", "3.54.1.0", "b74a59de3ae1dbab7c550fe7c46099980261a676"),
    # S3A, so Spark reads raw files on s3:// outside Glue/EMR (Hadoop 3.4.2 is Spark 4.1's).
    # Its AWS SDK v2 classes come from the Iceberg AWS bundle (SDK 2.44.4); only the
    # transfer manager is missing there, so it is pinned to the bundle's SDK version.
    Jar("org.apache.hadoop", "hadoop-aws", "3.4.2", "16f9de6da5c7862241d55a13d34843404d0cbb88"),
    Jar(
        "software.amazon.awssdk",
        "s3-transfer-manager",
        "2.44.4",
        "3ee1934ac45ab9642d12a4ca6b68f687fc40c6a6",
    ),
)

# The Spark Kafka source (jobs/land_kafka.py) and what it needs beyond Spark's own jars;
# `python -m tradelake.deploy` also ships these to the Glue landing job (--extra-jars).
KAFKA_JARS: tuple[Jar, ...] = (
    # Maven Central serves no 4.1.4 build of these: 4.1.3 is the nearest of the 4.1 line
    # (a patch release keeps the source's APIs), and the small delegation-token module is
    # served only as 4.1.1. kafka-clients and commons-pool2 are the versions Spark 4.1 pins.
    Jar(
        "org.apache.spark",
        "spark-sql-kafka-0-10_2.13",
        "4.1.3",
        "fa6f5869ac9f8f183e1941e0a8faae6257fd1ca2",
    ),
    Jar(
        "org.apache.spark",
        "spark-token-provider-kafka-0-10_2.13",
        "4.1.1",
        "1274a38fc9b913ab15b5d0c22496932a83a2b7ab",
    ),
    Jar("org.apache.kafka", "kafka-clients", "3.9.1", "86ca079953ed5606257ff298c24666b26da6985b"),
    Jar(
        "org.apache.commons", "commons-pool2", "2.12.1", "e5c7b6c9f5a4b59be2bba213fbec70b413376fc1"
    ),
)

JARS: tuple[Jar, ...] = (*BASE_JARS, *KAFKA_JARS)


def jars_dir() -> Path:
    """Where jars are cached: ``TRADELAKE_JARS_DIR`` or ``.jars`` under the current directory."""
    return Path(os.environ.get("TRADELAKE_JARS_DIR", ".jars")).resolve()


def _sha1(path: Path) -> str:
    digest = hashlib.sha1()  # noqa: S324 - Maven Central publishes SHA-1 checksums
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(
    target: Path | None = None, repo: str | None = None, jars: Sequence[Jar] = JARS
) -> list[Path]:
    """Download each of ``jars`` (default all) that is missing or corrupt; return their
    local paths in order.

    Raises:
        RuntimeError: a download does not match its pinned checksum.
    """
    target = target or jars_dir()
    repo = (repo or os.environ.get("TRADELAKE_MAVEN_REPO") or DEFAULT_MAVEN_REPO).rstrip("/")
    target.mkdir(parents=True, exist_ok=True)
    paths = []
    for jar in jars:
        path = target / jar.file_name
        if not path.exists() or _sha1(path) != jar.sha1:
            partial = path.with_suffix(".part")
            print(f"fetching {jar.coordinate}", file=sys.stderr)
            with urllib.request.urlopen(jar.url(repo), timeout=300) as response:  # noqa: S310
                partial.write_bytes(response.read())
            actual = _sha1(partial)
            if actual != jar.sha1:
                partial.unlink()
                raise RuntimeError(
                    f"{jar.coordinate} from {repo} has SHA-1 {actual}, expected {jar.sha1}; "
                    "check TRADELAKE_MAVEN_REPO or the pinned checksum in tradelake/jars.py"
                )
            partial.replace(path)
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tradelake.jars", description=__doc__)
    parser.add_argument("command", choices=["fetch", "paths", "coordinates"])
    args = parser.parse_args(argv)
    if args.command == "coordinates":
        print(",".join(jar.coordinate for jar in JARS))
        return 0
    paths = fetch()
    separator = "\n" if args.command == "fetch" else ","
    print(separator.join(str(path) for path in paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
