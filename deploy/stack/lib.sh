# shellcheck shell=bash
# shellcheck disable=SC2034  # variables are used by the scripts that source this file
# Shared settings and helpers for the local service stack scripts
# (up.sh, down.sh, kafka-fetch.sh, ensure-packages.sh). Source it; do not run it.
#
# Environment knobs (all optional; docs/configuration.md shows this list, a test keeps them equal):
#   TEAMPULSE_STACK_DIR                data, log and pid folder (default: <repo>/.stack)
#   TEAMPULSE_KAFKA_LIBS_DIR           Kafka jar cache (default: <repo>/.stack/kafka-libs)
#   TEAMPULSE_KAFKA_PORT               Kafka client listener (default: 9092)
#   TEAMPULSE_KAFKA_CONTROLLER_PORT    KRaft controller listener (default: 19093)
#   TEAMPULSE_KAFKA_HEAP_OPTS          JVM heap of the broker (default: -Xmx1g -Xms256m)
#   TEAMPULSE_REDIS_PORT               Redis (default: 6379)
#   TEAMPULSE_PROMETHEUS_PORT          Prometheus (default: 9090)
#   TEAMPULSE_ALERTMANAGER_PORT        Alertmanager (default: 9093)
#   TEAMPULSE_WORKER_TARGETS           host:port[,host:port...] Prometheus scrapes as job teampulse-worker (default: 127.0.0.1:$TEAMPULSE_WEB_PORT)
#   TEAMPULSE_NOTIFY_PORT              port of `teampulse notify`, where Alertmanager sends L&D's alerts (default: 6081)
#   TEAMPULSE_STACK_TIMEOUT            seconds to wait for each service to answer (default: 90)
#   TEAMPULSE_STOP_TIMEOUT             seconds to wait after SIGTERM before SIGKILL (default: 20)

STACK_SCRIPTS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$STACK_SCRIPTS_DIR/../.." && pwd)"

STACK_DIR="${TEAMPULSE_STACK_DIR:-$REPO_ROOT/.stack}"
mkdir -p "$STACK_DIR"
STACK_DIR="$(cd "$STACK_DIR" && pwd)"
PID_DIR="$STACK_DIR/pids"
LOG_DIR="$STACK_DIR/logs"

KAFKA_VERSION="4.0.0"
KAFKA_LIBS_DIR="${TEAMPULSE_KAFKA_LIBS_DIR:-$REPO_ROOT/.stack/kafka-libs}"
KAFKA_PORT="${TEAMPULSE_KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${TEAMPULSE_KAFKA_CONTROLLER_PORT:-19093}"
KAFKA_HEAP_OPTS="${TEAMPULSE_KAFKA_HEAP_OPTS:--Xmx1g -Xms256m}"
REDIS_PORT="${TEAMPULSE_REDIS_PORT:-6379}"
PROMETHEUS_PORT="${TEAMPULSE_PROMETHEUS_PORT:-9090}"
ALERTMANAGER_PORT="${TEAMPULSE_ALERTMANAGER_PORT:-9093}"
# The worker's web port moves its scrape target too, unless the targets are given.
WORKER_TARGETS="${TEAMPULSE_WORKER_TARGETS:-127.0.0.1:${TEAMPULSE_WEB_PORT:-6066}}"
# `teampulse notify` listens on the same variable: Alertmanager's L&D webhook follows it.
NOTIFY_PORT="${TEAMPULSE_NOTIFY_PORT:-6081}"
STACK_TIMEOUT="${TEAMPULSE_STACK_TIMEOUT:-90}"
STOP_TIMEOUT="${TEAMPULSE_STOP_TIMEOUT:-20}"
STACK_HOST="127.0.0.1"

# The four services this stack runs, in start order.
STACK_SERVICES=(kafka redis prometheus alertmanager)

log()  { printf '[stack] %s\n' "$*"; }
warn() { printf '[stack] WARNING: %s\n' "$*" >&2; }
die()  { printf '[stack] ERROR: %s\n' "$*" >&2; exit 1; }

# Path shown to humans: relative to the repo when inside it.
pretty_path() {
  case "$1" in
    "$REPO_ROOT"/*) printf '%s' "${1#"$REPO_ROOT"/}" ;;
    *) printf '%s' "$1" ;;
  esac
}

is_stack_service() {
  local s
  for s in "${STACK_SERVICES[@]}"; do [[ "$s" == "$1" ]] && return 0; done
  return 1
}

# Ports a service listens on (space separated).
service_ports() {
  case "$1" in
    kafka) echo "$KAFKA_PORT $KAFKA_CONTROLLER_PORT" ;;
    redis) echo "$REDIS_PORT" ;;
    prometheus) echo "$PROMETHEUS_PORT" ;;
    alertmanager) echo "$ALERTMANAGER_PORT" ;;
  esac
}

# Env var that moves a given port.
port_env_var() {
  local port="$1"
  case "$port" in
    "$KAFKA_PORT") echo TEAMPULSE_KAFKA_PORT ;;
    "$KAFKA_CONTROLLER_PORT") echo TEAMPULSE_KAFKA_CONTROLLER_PORT ;;
    "$REDIS_PORT") echo TEAMPULSE_REDIS_PORT ;;
    "$PROMETHEUS_PORT") echo TEAMPULSE_PROMETHEUS_PORT ;;
    "$ALERTMANAGER_PORT") echo TEAMPULSE_ALERTMANAGER_PORT ;;
    *) echo "?" ;;
  esac
}

# True when something accepts TCP connections on 127.0.0.1:PORT.
port_answers() {
  timeout 2 bash -c "exec 3<>/dev/tcp/$STACK_HOST/$1" 2>/dev/null
}

# True when any process listens on PORT (any address). Falls back to a connect test.
port_in_use() {
  local port="$1"
  if command -v ss >/dev/null 2>&1; then
    [[ -n "$(ss -Hltn "sport = :$port" 2>/dev/null)" ]]
  else
    port_answers "$port"
  fi
}

# One-line description of who listens on PORT (best effort).
port_owner() {
  if command -v ss >/dev/null 2>&1; then
    ss -Hltnp "sport = :$1" 2>/dev/null | head -n 3
  fi
}

# Pids of the processes listening on PORT (those of this user; needs ss).
port_pids() {
  if command -v ss >/dev/null 2>&1; then
    ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u
  fi
}

# The variables that place a stack: its folder and the ports down.sh checks.
STACK_PLACE_VARS=(TEAMPULSE_STACK_DIR TEAMPULSE_KAFKA_PORT TEAMPULSE_KAFKA_CONTROLLER_PORT
  TEAMPULSE_REDIS_PORT TEAMPULSE_PROMETHEUS_PORT TEAMPULSE_ALERTMANAGER_PORT)

# This stack's placing variables as NAME=VALUE lines (up.sh keeps them in the stack dir).
stack_place() {
  printf '%s\n' "TEAMPULSE_STACK_DIR=$STACK_DIR" "TEAMPULSE_KAFKA_PORT=$KAFKA_PORT" \
    "TEAMPULSE_KAFKA_CONTROLLER_PORT=$KAFKA_CONTROLLER_PORT" "TEAMPULSE_REDIS_PORT=$REDIS_PORT" \
    "TEAMPULSE_PROMETHEUS_PORT=$PROMETHEUS_PORT" "TEAMPULSE_ALERTMANAGER_PORT=$ALERTMANAGER_PORT"
}

# The exact `make down` for a stack placed by the NAME=VALUE lines on stdin: the variables
# that differ from the defaults, then `make down`.
down_command() {
  local line name value prefix=""
  while IFS= read -r line; do
    name="${line%%=*}"
    value="${line#*=}"
    case "$name" in
      TEAMPULSE_STACK_DIR) [[ "$value" == "$REPO_ROOT/.stack" ]] && continue ;;
      TEAMPULSE_KAFKA_PORT) [[ "$value" == 9092 ]] && continue ;;
      TEAMPULSE_KAFKA_CONTROLLER_PORT) [[ "$value" == 19093 ]] && continue ;;
      TEAMPULSE_REDIS_PORT) [[ "$value" == 6379 ]] && continue ;;
      TEAMPULSE_PROMETHEUS_PORT) [[ "$value" == 9090 ]] && continue ;;
      TEAMPULSE_ALERTMANAGER_PORT) [[ "$value" == 9093 ]] && continue ;;
      *) continue ;;
    esac
    prefix+="$name=$(printf '%q' "$value") "
  done
  printf '%smake down' "$prefix"
}

# The stack dir whose pid files name PID: every service runs in its stack dir or names a
# path inside it on its command line, so the folders above those paths are the candidates.
process_stack_dir() {
  local pid="$1" arg path candidates=()
  candidates+=("$(readlink "/proc/$pid/cwd" 2>/dev/null || true)")
  while IFS= read -r -d '' arg; do
    arg="${arg#*=}"
    [[ "$arg" == /* ]] && candidates+=("$arg")
  done < "/proc/$pid/cmdline" 2>/dev/null
  for path in "${candidates[@]}"; do
    while [[ "$path" == /?* ]]; do
      if grep -qsx "$pid" "$path"/pids/*.pid; then
        echo "$path"
        return 0
      fi
      path="$(dirname "$path")"
    done
  done
  return 1
}

# The placing variables of the stack that started PID (empty if no stack script did).
process_place() {
  local dir
  dir="$(process_stack_dir "$1")" || return 0
  if [[ -f "$dir/place" ]]; then
    cat "$dir/place"
  else
    echo "TEAMPULSE_STACK_DIR=$dir"
  fi
}

pid_file() { echo "$PID_DIR/$1.pid"; }
log_file() { echo "$LOG_DIR/$1.log"; }

# Start time of a process in seconds since the epoch (integer), empty if unknown.
proc_start_epoch() {
  local pid="$1" stat rest start_ticks btime hz
  stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || return 0
  rest="${stat##*) }"                       # drop "pid (comm) "; comm may contain spaces
  # shellcheck disable=SC2086
  set -- $rest
  start_ticks="${20}"                       # field 22 of the full line
  btime="$(awk '/^btime/ {print $2}' /proc/stat)"
  hz="$(getconf CLK_TCK 2>/dev/null || echo 100)"
  echo $(( btime + start_ticks / hz ))
}

# True when PID exists and is not a zombie.
pid_running() {
  local state
  kill -0 "$1" 2>/dev/null || return 1
  state="$(awk '{sub(/.*\) /, ""); print $1}' "/proc/$1/stat" 2>/dev/null || true)"
  [[ "$state" != "Z" ]]
}

# Prints the pid recorded in NAME.pid if that process is alive and is the one we
# started (it must not have started after the pid file was written, which rules
# out a recycled pid). Returns 1 otherwise.
live_pid() {
  local name="$1" file pid started written
  file="$(pid_file "$name")"
  [[ -f "$file" ]] || return 1
  pid="$(tr -dc '0-9' < "$file")"
  [[ -n "$pid" ]] || return 1
  pid_running "$pid" || return 1
  started="$(proc_start_epoch "$pid")"
  written="$(stat -c %Y "$file" 2>/dev/null || echo 0)"
  if [[ -n "$started" ]] && (( started > written + 5 )); then
    return 1
  fi
  echo "$pid"
}

# Runs a command detached from this shell (own session, stdin from /dev/null,
# output appended to LOGFILE, no inherited lock fd) and records its pid.
start_detached() {
  local name="$1" logfile="$2"
  shift 2
  mkdir -p "$PID_DIR" "$LOG_DIR"
  printf '\n===== %s starting %s =====\n' "$(date -Is)" "$name" >> "$logfile"
  setsid "$@" < /dev/null >> "$logfile" 2>&1 9>&- &
  local pid=$!
  echo "$pid" > "$(pid_file "$name")"
  echo "$pid"
}

show_log_tail() {
  local name="$1" file
  file="$(log_file "$name")"
  if [[ -f "$file" ]]; then
    printf '[stack] ---- last 30 lines of %s ----\n' "$(pretty_path "$file")" >&2
    tail -n 30 "$file" >&2 || true
    printf '[stack] ---- end of %s ----\n' "$(pretty_path "$file")" >&2
  fi
}

http_ok() {
  local url="$1"
  if command -v curl >/dev/null 2>&1; then
    curl -fsS -o /dev/null --max-time 3 "$url" 2>/dev/null
  else
    python3 - "$url" <<'PY' 2>/dev/null
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=3) as r:
    sys.exit(0 if 200 <= r.status < 300 else 1)
PY
  fi
}

# Takes an exclusive lock on the stack dir so concurrent up/down runs (e.g. several
# pytest-xdist workers) do not race. The lock fd (9) is closed in started daemons.
acquire_stack_lock() {
  exec 9> "$STACK_DIR/.lock"
  if ! flock -w 600 9; then
    die "another stack script has held $(pretty_path "$STACK_DIR")/.lock for 10 minutes; giving up"
  fi
}

# Stops the process recorded in NAME.pid: SIGTERM, wait up to STOP_TIMEOUT
# seconds, then SIGKILL. Removes the pid file. Returns 1 if it would not die.
stop_service() {
  local name="$1" file pid waited=0
  file="$(pid_file "$name")"
  [[ -f "$file" ]] || return 0
  if ! pid="$(live_pid "$name")"; then
    log "$name: not running (removing stale $(pretty_path "$file"))"
    rm -f "$file"
    return 0
  fi
  log "$name: stopping pid $pid (SIGTERM)..."
  kill -TERM "$pid" 2>/dev/null || true
  while pid_running "$pid"; do
    if (( waited >= STOP_TIMEOUT * 10 )); then
      warn "$name: pid $pid still alive after ${STOP_TIMEOUT}s, sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      local k=0
      while pid_running "$pid" && (( k < 50 )); do sleep 0.1; k=$((k + 1)); done
      if pid_running "$pid"; then
        warn "$name: pid $pid survived SIGKILL"
        return 1
      fi
      break
    fi
    if (( waited > 0 && waited % 50 == 0 )); then
      log "$name: ... waiting for pid $pid to exit ($((waited / 10))s/${STOP_TIMEOUT}s)"
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  rm -f "$file"
  log "$name: stopped"
}
