# shellcheck shell=bash
# Helpers for the kubelet node VMs of test/cluster/start --nodes N (sourced
# after lib.sh). Network, all inside a namespace the harness creates
# (NETNS, removed by stop): bridge br0 10.88.0.1/24; node-I is 10.88.0.(10+I)
# on a tap of that bridge, its pods 10.244.I.0/24 routed to it (no NAT, no
# kube-proxy); 10.96.0.1 (the "kubernetes" Service) is a local address of
# the namespace, where kube-apiserver listens on :443. The host reaches the
# apiserver only through a relay on 127.0.0.1 (see start).
# A node directory DIR/nodes/NAME holds: console.log (serial console),
# initrd.cpio (base + per-node config), var.img (the node's persistent /var),
# cmd.sock (command channel, test/node-vm/chan.py), qemu.pid, state.

CL_GATEWAY=10.88.0.1
VM_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")/../node-vm" && pwd)
# shellcheck source=../node-vm/lib.sh
. "$VM_LIB/lib.sh"

# cl_node_index NAME: I of node-I.
cl_node_index() { echo "${1#node-}"; }
cl_node_ip() { echo "10.88.0.$((10 + $(cl_node_index "$1")))"; }
cl_node_cidr() { echo "10.244.$(cl_node_index "$1").0/24"; }

# cl_net_up NS: the namespace, its bridge and the Service address.
cl_net_up() {
  local ns=$1
  ip netns add "$ns"
  ip netns exec "$ns" ip link set lo up
  ip netns exec "$ns" ip addr add 10.96.0.1/32 dev lo
  ip netns exec "$ns" ip link add br0 type bridge
  ip netns exec "$ns" ip addr add "$CL_GATEWAY/24" dev br0
  ip netns exec "$ns" ip link set br0 up
  # Routes between node VMs' pod subnets; replies from 10.96.0.1 leave by br0.
  # shellcheck disable=SC2016 # $f belongs to the inner sh
  ip netns exec "$ns" sh -c 'echo 1 >/proc/sys/net/ipv4/ip_forward;
    for f in /proc/sys/net/ipv4/conf/*/rp_filter; do echo 0 >"$f"; done'
}

cl_net_down() {
  if [ -n "$1" ]; then ip netns del "$1" 2>/dev/null || true; fi
}

# cl_bootstrap_token D: a bootstrap token (kube-system Secret) the kubelets
# use to ask for their certificates, with the RBAC that lets them send CSRs
# and has kube-controller-manager approve node client CSRs (and renewals).
# Writes D/pki/bootstrap-token. Run once the apiserver is ready.
cl_bootstrap_token() {
  local d=$1 id secret k=("$BIN/kubectl" --kubeconfig "$1/kubeconfig")
  id=$(openssl rand -hex 3)
  secret=$(openssl rand -hex 8)
  "${k[@]}" -n kube-system create secret generic "bootstrap-token-$id" --type bootstrap.kubernetes.io/token \
    --from-literal=token-id="$id" --from-literal=token-secret="$secret" \
    --from-literal=usage-bootstrap-authentication=true --from-literal=usage-bootstrap-signing=true \
    --from-literal=expiration="$(date -u -d '+1 day' +%FT%TZ)" >/dev/null
  "${k[@]}" create clusterrolebinding armorgate-test:kubelet-bootstrap \
    --clusterrole=system:node-bootstrapper --group=system:bootstrappers >/dev/null
  "${k[@]}" create clusterrolebinding armorgate-test:node-autoapprove-bootstrap \
    --clusterrole=system:certificates.k8s.io:certificatesigningrequests:nodeclient --group=system:bootstrappers >/dev/null
  "${k[@]}" create clusterrolebinding armorgate-test:node-autoapprove-renewal \
    --clusterrole=system:certificates.k8s.io:certificatesigningrequests:selfnodeclient --group=system:nodes >/dev/null
  (umask 077 && printf '%s.%s\n' "$id" "$secret" >"$d/pki/bootstrap-token")
}

# cl_node_prepare D NAME: the node's identity and disks (kept across reboots).
cl_node_prepare() {
  local d=$1 name=$2 nd ip tap
  nd=$d/nodes/$name
  ip=$(cl_node_ip "$name")
  tap=agtap$(cl_node_index "$name")
  rm -rf "$nd"
  mkdir -p "$nd/cfg/config"
  local c=$nd/cfg/config
  cp "$d/pki/ca.crt" "$c/ca.crt"
  # TLS bootstrapping, as kubeadm does it: the kubelet authenticates with the
  # cluster's bootstrap token (cl_bootstrap_token), sends a CSR for
  # system:node:NAME, kube-controller-manager approves and signs it, and the
  # kubelet keeps its own key and certificate under /var/lib/kubelet/pki.
  cl_kubeconfig "https://$CL_GATEWAY:443" "$d/pki/ca.crt" kubelet-bootstrap \
    token "$(cat "$d/pki/bootstrap-token")" >"$c/bootstrap.kubeconfig"
  cat >"$c/kubelet-config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: /config/ca.crt}
authorization: {mode: Webhook}
cgroupDriver: cgroupfs
failSwapOn: false
containerRuntimeEndpoint: unix:///run/containerd/containerd.sock
podCIDR: $(cl_node_cidr "$name")
resolvConf: /etc/resolv.conf
serializeImagePulls: false
# The VM's disks are small and the images are local: never evict for disk.
evictionHard: {memory.available: "50Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
EOF
  printf '%s\n' "$name" >"$c/node-name"
  printf '%s\n' "$ip" >"$c/ip"
  printf '%s\n' "$CL_GATEWAY" >"$c/gateway"
  cl_node_cidr "$name" >"$c/pod-cidr"
  openssl rand -hex 16 >"$c/machine-id"
  chmod 600 "$c/bootstrap.kubeconfig"
  (cd "$nd/cfg" && find config | cpio -o -H newc -R 0:0 --quiet) >"$nd/cfg.cpio"
  cat "$NODE_IMG/node-initrd.cpio" "$nd/cfg.cpio" >"$nd/initrd.cpio"
  rm -rf "$nd/cfg" "$nd/cfg.cpio"
  # The node's /var: containerd's images (already imported, build-node) and
  # snapshots, kubelet state; it survives node-reboot like a real disk.
  cp --sparse=always "$NODE_IMG/var-base.img" "$nd/var.img"
  ip netns exec "$NETNS" ip tuntap add dev "$tap" mode tap
  ip netns exec "$NETNS" ip link set "$tap" master br0 up
  ip netns exec "$NETNS" ip route replace "$(cl_node_cidr "$name")" via "$ip"
  printf 'NODE=%s\nIP=%s\nTAP=%s\n' "$name" "$ip" "$tap" >"$nd/state"
}

# cl_node_boot D NAME: starts the node's qemu (TCG) in the namespace; returns
# once its command channel answers. The VM then starts containerd + kubelet.
cl_node_boot() {
  local d=$1 name=$2 nd tap mac sockdir deadline accel=tcg
  nd=$d/nodes/$name
  tap=agtap$(cl_node_index "$name")
  mac=$(printf '52:54:00:88:00:%02x' $((10 + $(cl_node_index "$name"))))
  vm_alive "$nd/qemu.pid" && die "$name is already running"
  sockdir=$(mktemp -d /tmp/agvm.XXXXXX)
  ln -sfn "$sockdir/cmd.sock" "$nd/cmd.sock"
  sed -i '/^SOCKDIR=/d' "$nd/state"
  echo "SOCKDIR=$sockdir" >>"$nd/state"
  echo "--- boot $(date -u +%FT%TZ) ---" >>"$nd/console.log"
  local bios=()
  [ -f /usr/share/qemu/qboot.rom ] && bios=(-bios /usr/share/qemu/qboot.rom)
  # shellcheck disable=SC2054 # commas are qemu option syntax
  local qemu=(qemu-system-x86_64 -accel "$accel" -machine pc -m "${ARMORGATE_NODE_MEMORY_MB:-1536}" -smp 1
    -nodefaults -display none -vga none -monitor none -no-reboot "${bios[@]}"
    -kernel "$NODE_IMG/vmlinuz" -initrd "$nd/initrd.cpio"
    -append "console=ttyS0 apparmor=1 security=apparmor panic=-1 quiet"
    -chardev "file,id=con,path=$nd/console.log,append=on" -serial chardev:con
    -chardev "socket,id=cmd,path=$sockdir/cmd.sock,server=on,wait=off" -serial chardev:cmd
    -drive "file=$NODE_IMG/payload.img,if=virtio,format=raw,readonly=on"
    -drive "file=$nd/var.img,if=virtio,format=raw"
    -netdev "tap,id=n0,ifname=$tap,script=no,downscript=no"
    -device "virtio-net-pci,netdev=n0,mac=$mac"
    -pidfile "$nd/qemu.pid")
  rm -f "$nd/qemu.pid"
  setsid ip netns exec "$NETNS" timeout -s KILL "${ARMORGATE_VM_MAX_LIFETIME:-7200}" "${qemu[@]}" \
    </dev/null >>"$nd/qemu.log" 2>&1 &
  echo $! >"$nd/wrapper.pid"
  deadline=$(($(date +%s) + ${ARMORGATE_VM_START_TIMEOUT:-180}))
  until python3 "$VM_LIB/chan.py" "$nd/cmd.sock" exec --connect-timeout 2 --timeout 3 -- true 2>/dev/null; do
    if ! kill -0 "$(cat "$nd/wrapper.pid")" 2>/dev/null; then
      tail -n 30 "$nd/console.log" >&2; tail -n 5 "$nd/qemu.log" >&2
      die "$name: qemu exited during boot"
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      tail -n 30 "$nd/console.log" >&2
      die "$name: no command channel within ${ARMORGATE_VM_START_TIMEOUT:-180} s"
    fi
    sleep 0.3
  done
}

# cl_node_halt D NAME [hard]: powers the VM off (channel), or kills qemu
# outright with "hard" (a power cut), and waits until it is gone.
cl_node_halt() {
  local d=$1 name=$2 mode=${3:-} nd pid
  nd=$d/nodes/$name
  if vm_alive "$nd/qemu.pid"; then
    pid=$(cat "$nd/qemu.pid")
    if [ "$mode" != hard ]; then
      python3 "$VM_LIB/chan.py" "$nd/cmd.sock" exec --timeout 30 -- node-ctl stop >/dev/null 2>&1 || true
      python3 "$VM_LIB/chan.py" "$nd/cmd.sock" poweroff --connect-timeout 3 --timeout 5 >/dev/null 2>&1 || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    fi
    kill -KILL "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  if [ -f "$nd/wrapper.pid" ]; then
    pid=$(cat "$nd/wrapper.pid")
    for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  local sockdir
  sockdir=$(sed -n 's/^SOCKDIR=//p' "$nd/state" 2>/dev/null)
  case "$sockdir" in /tmp/agvm.*) rm -rf "$sockdir" ;; esac
  rm -f "$nd/qemu.pid" "$nd/wrapper.pid" "$nd/cmd.sock" "$nd/cmd.sock.lock"
}

# cl_wait_nodes_ready D TIMEOUT_S NAME...: every named Node reports Ready.
cl_wait_nodes_ready() {
  local d=$1 timeout=$2 deadline n st pending
  shift 2
  deadline=$(($(date +%s) + timeout))
  while :; do
    pending=()
    for n in "$@"; do
      st=$("$BIN/kubectl" --kubeconfig "$d/kubeconfig" get node "$n" \
        -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null || true)
      [ "$st" = True ] || pending+=("$n")
    done
    ((${#pending[@]} == 0)) && return 0
    if (($(date +%s) >= deadline)); then
      echo "test/cluster: not Ready after $timeout s: ${pending[*]}" >&2
      for n in "${pending[@]}"; do
        echo "--- $n console:" >&2
        tail -n 20 "$d/nodes/$n/console.log" >&2
        python3 "$VM_LIB/chan.py" "$d/nodes/$n/cmd.sock" exec --timeout 10 -- tail -n 30 /run/kubelet.log >&2 || true
      done
      return 1
    fi
    sleep 1
  done
}
