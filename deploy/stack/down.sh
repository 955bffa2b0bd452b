#!/usr/bin/env bash
# Stops what the local stack started: every process with a pid file in
# .stack/pids/ (kafka, redis, prometheus, alertmanager, and app processes other
# scripts record there, e.g. worker.pid), then checks that the stack ports are free.
# Only processes recorded in those pid files are signalled (SIGTERM, then SIGKILL
# after TEAMPULSE_STOP_TIMEOUT seconds, default 20).
#
#   deploy/stack/down.sh            # stop everything
#   deploy/stack/down.sh redis      # stop only these (names of pid files)
#   deploy/stack/down.sh --wipe     # stop everything and delete the data folders
#                                   # (Kafka log dir, Redis dump, Prometheus TSDB,
#                                   # Alertmanager state); the Kafka jar cache stays
set -euo pipefail
# shellcheck source=deploy/stack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

wipe=0
names=()
for arg in "$@"; do
  case "$arg" in
    --wipe) wipe=1 ;;
    -h|--help) sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option '$arg' (see --help)" ;;
    *) names+=("$arg") ;;
  esac
done
if [[ $wipe -eq 1 && ${#names[@]} -gt 0 ]]; then
  die "--wipe stops and wipes the whole stack; do not combine it with service names"
fi

acquire_stack_lock

# Stop order: app processes first (they use the services), then the services in
# reverse start order.
if [[ ${#names[@]} -eq 0 ]]; then
  if [[ -d "$PID_DIR" ]]; then
    for f in "$PID_DIR"/*.pid; do
      [[ -e "$f" ]] || continue
      n="$(basename "$f" .pid)"
      is_stack_service "$n" || names+=("$n")
    done
  fi
  for (( i=${#STACK_SERVICES[@]}-1; i>=0; i-- )); do names+=("${STACK_SERVICES[$i]}"); done
fi

failed=0
stopped_services=()
for n in "${names[@]}"; do
  [[ "$n" =~ ^[A-Za-z0-9._-]+$ ]] || die "bad name '$n'"
  if [[ -f "$(pid_file "$n")" ]]; then
    stop_service "$n" || failed=1
    is_stack_service "$n" && stopped_services+=("$n")
  else
    log "$n: not running (no pid file)"
  fi
done

# Ports of the stack services we were asked about must be free now.
check_services=("${stopped_services[@]}")
if [[ $# -eq 0 || $wipe -eq 1 ]]; then check_services=("${STACK_SERVICES[@]}"); fi
busy=()
for s in "${check_services[@]}"; do
  for port in $(service_ports "$s"); do
    k=0
    while port_in_use "$port" && (( k < 50 )); do sleep 0.1; k=$((k + 1)); done
    if port_in_use "$port"; then busy+=("$port"); fi
  done
done
if [[ ${#busy[@]} -gt 0 ]]; then
  # A busy port fails the stop when a stack still holds it: this one, if its process outlived
  # the stop, or another stack dir's (make down run with other variables than make up). A
  # listener no stack started (a Redis of the machine's own) is only reported.
  others=()
  for port in "${busy[@]}"; do
    warn "port $port is still in use (not by a process this stack recorded): $(port_owner "$port")"
    for s in "${stopped_services[@]}"; do
      for p in $(service_ports "$s"); do [[ "$p" == "$port" ]] && failed=1; done
    done
    for pid in $(port_pids "$port"); do
      place="$(process_place "$pid")"
      [[ -n "$place" ]] && others+=("$(down_command <<< "$place")")
    done
  done
  if [[ ${#others[@]} -gt 0 ]]; then
    failed=1
    mapfile -t others < <(printf '%s\n' "${others[@]}" | sort -u)
    for command in "${others[@]}"; do
      warn "those ports belong to a stack started with other variables; stop it with: $command"
    done
  fi
else
  ports=""
  for s in "${check_services[@]}"; do ports+="$(service_ports "$s") "; done
  [[ -n "$ports" ]] && log "ports free: ${ports% }"
fi

if [[ $wipe -eq 1 ]]; then
  if [[ $failed -ne 0 ]]; then
    die "not wiping: some processes did not stop"
  fi
  for d in kafka redis prometheus alertmanager; do
    if [[ -e "$STACK_DIR/$d" ]]; then
      rm -rf "${STACK_DIR:?}/$d"
      log "wiped $(pretty_path "$STACK_DIR/$d")"
    fi
  done
  log "kept the Kafka jar cache in $(pretty_path "$KAFKA_LIBS_DIR")"
fi

if [[ $failed -ne 0 ]]; then
  die "the stack is not stopped: some processes could not be stopped or its ports are still in use (see warnings above)"
fi
log "stack stopped"
