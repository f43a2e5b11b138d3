# shellcheck shell=bash
# Shared helpers of the test/node-vm scripts (sourced).
VM_CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/armorgate/node-vm
mkdir -p "$VM_CACHE"
PATH=$PATH:/usr/sbin:/sbin

vm_die() { echo "node-vm: $*" >&2; exit 1; }

# vm_kernel_dir: prints the newest cached kernel directory, fails when none.
vm_kernel_dir() {
  local d best=
  for d in "$VM_CACHE"/kernel-*/; do
    [ -f "$d/vmlinuz" ] && [ -f "$d/version" ] || continue
    best=${d%/}
  done
  [ -n "$best" ] || return 1
  printf '%s\n' "$best"
}

# vm_alive PIDFILE: the qemu of that pid file is running.
vm_alive() {
  local pid
  [ -f "$1" ] || return 1
  pid=$(cat "$1" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null &&
    grep -q qemu-system "/proc/$pid/cmdline" 2>/dev/null
}
