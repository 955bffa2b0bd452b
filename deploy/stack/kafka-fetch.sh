#!/usr/bin/env bash
# Gathers the Apache Kafka broker jars (see kafka-pom.xml) from Maven Central into
# the jar cache (.stack/kafka-libs/ by default, TEAMPULSE_KAFKA_LIBS_DIR to move it).
# A marker file records the pom it was built from: later runs return at once
# unless kafka-pom.xml changed. Needs Java and Maven (mvn).
set -euo pipefail
# shellcheck source=deploy/stack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

POM="$STACK_SCRIPTS_DIR/kafka-pom.xml"
MARKER="$KAFKA_LIBS_DIR/.fetched"
pom_sum="$(sha256sum "$POM" | cut -d' ' -f1)"

if [[ -f "$MARKER" && "$(cat "$MARKER")" == "$pom_sum" ]] && compgen -G "$KAFKA_LIBS_DIR/kafka_2.13-*.jar" >/dev/null; then
  [[ "${1:-}" == "--quiet" ]] || log "Kafka $KAFKA_VERSION jars already in $(pretty_path "$KAFKA_LIBS_DIR") (skipping fetch)"
  exit 0
fi

command -v java >/dev/null 2>&1 || die "java not found: Kafka $KAFKA_VERSION needs Java 17+ (Debian: apt-get install openjdk-17-jre-headless)"
command -v mvn >/dev/null 2>&1 || die "mvn not found: needed once to fetch the Kafka jars (Debian: apt-get install maven)"

log "fetching Kafka $KAFKA_VERSION broker jars from Maven Central into $(pretty_path "$KAFKA_LIBS_DIR") (first run only, ~40 MB)..."
start=$SECONDS
mkdir -p "$(dirname "$KAFKA_LIBS_DIR")"
tmp="$(mktemp -d "$KAFKA_LIBS_DIR.tmp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

if ! mvn -B -q -Dstyle.color=never -f "$POM" \
      dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" > "$tmp/mvn.log" 2>&1; then
  tail -n 40 "$tmp/mvn.log" >&2
  die "Maven could not fetch the Kafka jars (output above). Is Maven Central reachable?"
fi
rm -f "$tmp/mvn.log"
compgen -G "$tmp/kafka_2.13-$KAFKA_VERSION.jar" >/dev/null \
  || die "fetch finished but kafka_2.13-$KAFKA_VERSION.jar is missing from the result"

echo "$pom_sum" > "$tmp/.fetched"
rm -rf "$KAFKA_LIBS_DIR"
mv "$tmp" "$KAFKA_LIBS_DIR"
trap - EXIT
log "fetched $(find "$KAFKA_LIBS_DIR" -name '*.jar' | wc -l) jars in $((SECONDS - start))s"
