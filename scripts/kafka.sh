#!/usr/bin/env bash
# The Kafka broker of `make test-kafka`: Apache Kafka, KRaft, broker and controller in one JVM.
#
#   scripts/kafka.sh install              fetch kafka_2.13 and its runtime dependencies from
#                                         Maven Central once (mvn dependency:copy-dependencies
#                                         of a pinned pom; Maven checks every SHA-1)
#   scripts/kafka.sh classpath            print the broker's classpath (installing if needed)
#   scripts/kafka.sh start DIR PORT CTRL  format DIR and start a single-node broker on
#                                         127.0.0.1:PORT (controller on CTRL) in the background;
#                                         its pid goes to DIR/broker.pid, its log to DIR/broker.log
#   scripts/kafka.sh stop DIR             stop the broker started in DIR
#
# The tests' fixture (tests/kafka/broker.py) does the same as `start` from Python. Jars live
# under .tools/kafka-$version/ (gitignored); KAFKA_MAVEN_REPO overrides the repository.
set -euo pipefail

version="4.1.1"
log4j_version="2.24.3"
slf4j_version="2.0.17"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
root="$here/.tools/kafka-$version"
repo="${KAFKA_MAVEN_REPO:-https://repo1.maven.org/maven2}"

install() {
  if [[ -f "$root/.installed" ]]; then
    return
  fi
  mkdir -p "$root"
  # kafka_2.13 brings the broker, the controller, the storage tool and log4j2's API and
  # core; the SLF4J binding sends the broker's SLF4J logging to log4j2.
  cat > "$root/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>tradelake.tools</groupId>
  <artifactId>kafka-broker</artifactId>
  <version>1</version>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>$version</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j2-impl</artifactId>
      <version>$log4j_version</version>
    </dependency>
    <!-- The binding needs SLF4J 2; a dependency would otherwise bring 1.7. -->
    <dependency>
      <groupId>org.slf4j</groupId>
      <artifactId>slf4j-api</artifactId>
      <version>$slf4j_version</version>
    </dependency>
  </dependencies>
</project>
EOF
  # Every repository (parent poms name mirrors of their own) resolves through one.
  cat > "$root/settings.xml" <<EOF
<settings>
  <mirrors>
    <mirror><id>tradelake</id><mirrorOf>*</mirrorOf><url>$repo</url></mirror>
  </mirrors>
</settings>
EOF
  rm -rf "$root/libs.tmp"
  mvn -q -B -s "$root/settings.xml" -f "$root/pom.xml" --strict-checksums \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$root/libs.tmp"
  rm -rf "$root/libs"
  mv "$root/libs.tmp" "$root/libs"
  touch "$root/.installed"
  echo "kafka.sh: Kafka $version ($(ls "$root/libs" | wc -l) jars) installed in $root/libs" >&2
}

classpath() {
  install
  local jars=("$root"/libs/*.jar)
  local IFS=:
  echo "${jars[*]}"
}

case "${1:-}" in
  install)
    install
    ;;
  classpath)
    classpath
    ;;
  start)
    [[ $# -eq 4 ]] || { echo "usage: scripts/kafka.sh start DIR PORT CONTROLLER_PORT" >&2; exit 2; }
    dir="$(mkdir -p "$2" && cd "$2" && pwd)" port="$3" controller="$4"
    cp="$(classpath)"
    cat > "$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
# Test messages carry trade-day timestamps far in the past: time retention would delete
# them at its next check. Offsets disappear only when a test deletes them (delete_records).
log.retention.ms=-1
EOF
    cat > "$dir/log4j2.properties" <<EOF
rootLogger.level = WARN
rootLogger.appenderRef.out.ref = out
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
logger.server.name = kafka.server.KafkaRaftServer
logger.server.level = INFO
EOF
    logging="-Dlog4j2.configurationFile=file:$dir/log4j2.properties"
    cluster="$(java "$logging" -cp "$cp" kafka.tools.StorageTool random-uuid)"
    java "$logging" -cp "$cp" kafka.tools.StorageTool format -t "$cluster" \
      -c "$dir/server.properties" > "$dir/format.log"
    nohup java -Xmx512m -XX:+UseSerialGC "$logging" -cp "$cp" kafka.Kafka "$dir/server.properties" \
      > "$dir/broker.log" 2>&1 &
    echo $! > "$dir/broker.pid"
    echo "kafka.sh: broker pid $(cat "$dir/broker.pid") on 127.0.0.1:$port" >&2
    ;;
  stop)
    [[ $# -eq 2 ]] || { echo "usage: scripts/kafka.sh stop DIR" >&2; exit 2; }
    if [[ -f "$2/broker.pid" ]]; then
      kill "$(cat "$2/broker.pid")" 2>/dev/null || true
      rm -f "$2/broker.pid"
    fi
    ;;
  *)
    echo "usage: scripts/kafka.sh install | classpath | start DIR PORT CONTROLLER_PORT | stop DIR" >&2
    exit 2
    ;;
esac
