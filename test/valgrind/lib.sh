# shellcheck shell=bash disable=SC2034
# Shared by the valgrind runs (sourced): the memcheck options and the verdict.
# Every process logs to its own file (--log-file=DIR/vg.%p.log) with --quiet,
# so a log holds only findings and a non-empty one is a failure.

# vg_opts DIR: the memcheck options into the array VG_OPTS, logging into DIR.
vg_opts() {
  VG_OPTS=(--quiet --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite
    --num-callers=30 "--log-file=$1/vg.%p.log")
}

# vg_agent_wrap DIR: under ARMORGATE_MEMCHECK=1, the agent's command prefix
# into the array wrap (valgrind logging into DIR, created) and slower waits
# (AGENT_WAIT_SCALE); returns 1 (wrap empty) otherwise. valgrind runs the
# agent in its own process, so the caller's $! still gets the signals.
vg_agent_wrap() {
  wrap=()
  [ "${ARMORGATE_MEMCHECK:-0}" = 1 ] || return 1
  mkdir -p "$1"
  vg_opts "$1"
  wrap=(valgrind "${VG_OPTS[@]}")
  export AGENT_WAIT_SCALE=4
}

# vg_findings DIR: prints every non-empty log of DIR to stderr; returns 1
# when there was one.
vg_findings() {
  local f bad=0
  for f in "$1"/vg.*.log; do
    [ -s "$f" ] || continue
    bad=1
    echo "valgrind: findings in process ${f##*/vg.}:" >&2
    cat "$f" >&2
  done
  return "$bad"
}
