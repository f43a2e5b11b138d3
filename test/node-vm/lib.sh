# shellcheck shell=bash
# Shared helpers of the test/node-vm scripts (sourced).
# shellcheck source=test/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
# test/cluster's lib-nodes.sh sources this too: its prefix stays.
DIE_PREFIX=${DIE_PREFIX-"node-vm: "}
VM_CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/armorgate/node-vm
mkdir -p "$VM_CACHE"
PATH=$PATH:/usr/sbin:/sbin

# vm_kernel_dir: prints the newest cached kernel directory, fails when none.
vm_kernel_dir() {
  local d best=
  for d in "$VM_CACHE"/kernel-*/; do
    { [ -f "$d/vmlinuz" ] && [ -f "$d/version" ]; } || continue
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

# Kernel modules the cloud kernel builds as modules, in load order: every VM
# needs virtio-net; kubelet nodes also virtio-blk, overlay (containerd's
# snapshotter), bridge and veth (the CNI bridge plugin).
# shellcheck disable=SC2034 # used by the scripts that source this file
VM_MODULES_NET=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net)
# shellcheck disable=SC2034 # used by the scripts that source this file
VM_MODULES_NODE=("${VM_MODULES_NET[@]}" virtio_blk overlay llc stp bridge veth)
VM_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# vm_copy_libs ROOT BINARY: BINARY's shared libraries (and the loader) into ROOT.
vm_copy_libs() {
  local r=$1 lib
  ldd "$2" 2>/dev/null | grep -o '/[^ ]*' | while read -r lib; do
    [ -f "$lib" ] || continue
    [ -e "$r$lib" ] || install -D -m 0755 "$(readlink -f "$lib")" "$r$lib"
  done
}

# vm_stage_root ROOT KDIR MODULE...: what every VM initramfs holds: busybox
# and its applets, the command-channel daemon (static, so it runs whatever the
# other binaries' libraries are), apparmor_parser with the abstractions,
# tunables, abi and features profiles include, the CA bundle, passwd/group,
# and the named kernel modules from KDIR with lib/modules/order (load order,
# read by /init). Call vm_finish_root once every binary's libraries are in.
vm_stage_root() {
  local r=$1 kdir=$2 busybox parser a m f
  shift 2
  busybox=$(command -v busybox)
  parser=$(command -v apparmor_parser)
  mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,run,config,lib/modules,root,var/lib,home}
  mkdir -p "$r"/etc/apparmor.d/armorgate "$r/etc/apparmor" "$r/usr/share/apparmor-features"
  cp "$busybox" "$r/bin/busybox"
  for a in $("$busybox" --list); do
    [ -e "$r/bin/$a" ] || ln -s busybox "$r/bin/$a"
  done
  cc -std=c17 -O2 -Wall -Wextra -Werror -static -o "$r/sbin/agvm-chan" "$VM_LIB_DIR/guest/chan.c"
  strip "$r/sbin/agvm-chan"
  cp -a /etc/apparmor.d/abstractions /etc/apparmor.d/tunables "$r/etc/apparmor.d/"
  if [ -d /etc/apparmor.d/abi ]; then cp -a /etc/apparmor.d/abi "$r/etc/apparmor.d/"; fi
  cp /etc/apparmor/parser.conf "$r/etc/apparmor/"
  cp -a /usr/share/apparmor-features/. "$r/usr/share/apparmor-features/"
  # apparmor_parser is static against libapparmor; ldd picks up libc anyway.
  install -D -m 0755 "$parser" "$r/sbin/apparmor_parser"
  ln -s ../../sbin/apparmor_parser "$r/usr/sbin/apparmor_parser"
  vm_copy_libs "$r" "$parser"
  if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$r/etc/ssl/certs/ca-certificates.crt"
  fi
  if [ -f /usr/lib/ssl/openssl.cnf ]; then install -D -m 0644 /usr/lib/ssl/openssl.cnf "$r/usr/lib/ssl/openssl.cnf"; fi
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$r/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$r/etc/group"
  printf 'hosts: files\n' >"$r/etc/nsswitch.conf"
  : >"$r/etc/resolv.conf"
  for m in "$@"; do
    f=$(find "$kdir/modules" -name "$m.ko" | head -n1)
    [ -n "$f" ] || die "kernel cache has no $m.ko (rerun test/node-vm/bootstrap)"
    cp "$f" "$r/lib/modules/$m.ko"
    echo "$m" >>"$r/lib/modules/order"
  done
}

# vm_finish_root ROOT: Debian's lib/lib64 are real directories under
# usrmerge; make both spellings of the loader path resolve.
vm_finish_root() {
  local r=$1
  if [ -d "$r/usr/lib" ] && [ ! -e "$r/lib/x86_64-linux-gnu" ] && [ -d "$r/usr/lib/x86_64-linux-gnu" ]; then
    ln -s ../usr/lib/x86_64-linux-gnu "$r/lib/x86_64-linux-gnu"
  fi
  if [ -d "$r/usr/lib64" ] && [ ! -e "$r/lib64" ]; then ln -s usr/lib64 "$r/lib64"; fi
}

# vm_cpio ROOT OUT: ROOT as a newc archive owned by root (sorted, so equal
# inputs give equal archives).
vm_cpio() {
  (cd "$1" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$2"
}
