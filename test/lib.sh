# shellcheck shell=bash
# The one shell library of the scripts under test/ and bench/ (sourced, not
# run; the VM guests' scripts cannot reach it): failing, waiting, free ports.
#   . "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"    # from test/AREA/lib.sh
# Convention for every bash script: `#!/usr/bin/env bash`, then
# `set -euo pipefail` before anything else runs. A command allowed to fail
# says so (`|| true`, `if`). A reader that stops early (grep -q, head) can
# kill a writer with more to say by SIGPIPE and so fail the pipe: capture
# the output first (`grep -q x <<<"$(cmd)"`, `[ -n "$(cmd)" ]`).
# Area libraries (test/AREA/lib.sh) source this one and set DIE_PREFIX.

# die MSG...: MSG on stderr after DIE_PREFIX (default "SCRIPT: "), then the
# caller's on_die function if it defined one (a daemon's log tail, stopping a
# VM), and exit 1. Inside $(...) it ends only that subshell.
die() {
  echo "${DIE_PREFIX-${0##*/}: }$*" >&2
  if declare -F on_die >/dev/null; then on_die >&2 || true; fi
  exit 1
}

# wait_until TIMEOUT_S INTERVAL_S CMD...: runs CMD every INTERVAL_S seconds
# until it succeeds (return 0) or TIMEOUT_S have passed (return 1). CMD's
# output is the caller's: redirect the call to keep it quiet.
wait_until() {
  local timeout=$1 interval=$2 deadline
  shift 2
  deadline=$(($(date +%s) + timeout))
  until "$@"; do
    (($(date +%s) < deadline)) || return 1
    sleep "$interval"
  done
}

# free_port N: N distinct TCP ports nobody listens on, one a
# line, from below the kernel's ephemeral range (ip_local_port_range) so that
# no outgoing connection can hold the port picked. Another test may pick the
# same port in the meantime (unlikely); the daemon then fails loudly.
free_port() {
  local n=$1 used p picked=" " lo=10000 hi eph f st addr
  read -r eph _ </proc/sys/net/ipv4/ip_local_port_range
  hi=$((eph > lo + 1000 ? eph : 32768))
  used=" "
  for f in /proc/net/tcp /proc/net/tcp6; do
    [ -r "$f" ] || continue
    # local_address is "ADDR:PORT" in hex; state 0A is LISTEN.
    while read -r _ addr _ st _; do
      if [ "$st" = 0A ]; then used+="$((16#${addr##*:})) "; fi
    done < <(tail -n +2 "$f")
  done
  while ((n > 0)); do
    p=$((lo + (RANDOM * 32768 + RANDOM) % (hi - lo)))
    [[ "$used" == *" $p "* || "$picked" == *" $p "* ]] && continue
    picked+="$p "
    echo "$p"
    n=$((n - 1))
  done
}
