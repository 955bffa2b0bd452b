#!/usr/bin/env bash
# Installs the Debian packages the local stack needs, but only those whose binary
# is missing. `apt-get update` runs at most once, and only if something is missing.
#
#   ensure-packages.sh                 # everything: kafka redis prometheus alertmanager
#   ensure-packages.sh redis kafka     # only what these services need
#   ensure-packages.sh chromium        # a tool the tests use (not a stack service)
#   ensure-packages.sh docker-compose  # another: `make tools` runs it before the tests
#   ensure-packages.sh openssl         # certificates for the TLS tests (`make tools` too)
#   ensure-packages.sh shellcheck prometheus alertmanager  # what `make lint` checks with
#
# Package services are never started by the install (no systemd here; up.sh runs
# the binaries itself).
set -euo pipefail
# shellcheck source=deploy/stack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

services=("$@")
[[ ${#services[@]} -gt 0 ]] || services=("${STACK_SERVICES[@]}")

missing=()
need() {  # need BINARY PACKAGE
  if ! command -v "$1" >/dev/null 2>&1; then
    log "missing '$1' (Debian package $2)"
    missing+=("$2")
  fi
}
find_missing() {
  missing=()
  local s
  for s in "${services[@]}"; do
    case "$s" in
      kafka)
        need java openjdk-17-jre-headless
        # mvn is only needed while the jar cache is empty.
        [[ -f "$KAFKA_LIBS_DIR/.fetched" ]] || need mvn maven
        ;;
      redis)
        need redis-server redis-server
        need redis-cli redis-tools
        ;;
      prometheus)
        need prometheus prometheus
        need promtool prometheus
        ;;
      alertmanager)
        if ! command -v alertmanager >/dev/null 2>&1 && ! command -v prometheus-alertmanager >/dev/null 2>&1; then
          log "missing 'prometheus-alertmanager' (Debian package prometheus-alertmanager)"
          missing+=(prometheus-alertmanager)
        fi
        need amtool prometheus-alertmanager
        ;;
      chromium) need chromium chromium ;;
      # `docker-compose config` validates docker-compose.yml without a Docker engine.
      docker-compose) need docker-compose docker-compose ;;
      openssl) need openssl openssl ;;
      # `make lint` checks the stack scripts with it.
      shellcheck) need shellcheck shellcheck ;;
      *) die "unknown service '$s' (expected: ${STACK_SERVICES[*]}, chromium, docker-compose, openssl or shellcheck)" ;;
    esac
  done
}

find_missing
if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi
# De-duplicate, keep order.
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | awk '!seen[$0]++')

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
  else
    die "need root to install: ${missing[*]} — run: sudo apt-get update && sudo apt-get install -y ${missing[*]}"
  fi
fi
command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install these yourself: ${missing[*]}"

# Keep the packages' init scripts from starting their own daemons on our ports
# (policy-rc.d exit 101 = "do not start"). Left alone if the machine already has one.
POLICY=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e "$POLICY" ]]; then
  printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$POLICY" >/dev/null
  "${SUDO[@]}" chmod 755 "$POLICY"
  created_policy=1
fi
cleanup() { if [[ $created_policy -eq 1 ]]; then "${SUDO[@]}" rm -f "$POLICY"; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
log "installing Debian packages: ${missing[*]}"
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
installed=("${missing[@]}")
find_missing
if [[ ${#missing[@]} -gt 0 ]]; then
  die "still missing after installing ${installed[*]}: ${missing[*]}"
fi
log "installed: ${installed[*]}"
