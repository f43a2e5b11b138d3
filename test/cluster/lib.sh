# shellcheck shell=bash
# Shared helpers of test/cluster/{start,stop,restart-apiserver,compact}.
# Sourced, not run. A cluster directory DIR holds: pki/ (certs and keys),
# etcd/ (data), logs/, *.pid, state (ports and binary dir, shell syntax),
# kubeconfig, token-kubeconfig, tokens.csv, env.
# Everything listens on 127.0.0.1 only, except with --nodes (lib-nodes.sh):
# then the daemons run in the cluster's own network namespace.

# shellcheck source=test/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
DIE_PREFIX="test/cluster: "

# cl_abs DIR: absolute path of DIR (created if missing).
cl_abs() { mkdir -p "$1" && (cd "$1" && pwd); }

# cl_alive PIDFILE NAME: true when PIDFILE names a live process whose command
# is NAME (guards against a recycled pid after a reboot or crash).
cl_alive() {
  local pid comm
  [ -s "$1" ] || return 1
  pid=$(cat "$1")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
  # The kernel keeps 15 bytes of a command name (kube-controller-manager).
  [ "$comm" = "${2:0:15}" ]
}

# cl_stop_one PIDFILE NAME [GRACE_S]: SIGTERM, wait up to GRACE_S (default
# 15) seconds, then SIGKILL; removes the pid file.
cl_stop_one() {
  local pidfile=$1 name=$2 grace=${3:-15} pid i
  if cl_alive "$pidfile" "$name"; then
    pid=$(cat "$pidfile")
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < grace * 10; i++)); do
      cl_alive "$pidfile" "$name" || break
      sleep 0.1
    done
    if cl_alive "$pidfile" "$name"; then
      echo "test/cluster: $name (pid $pid) ignored SIGTERM for $grace s; sending SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
      for ((i = 0; i < 50; i++)); do
        cl_alive "$pidfile" "$name" || break
        sleep 0.1
      done
    fi
    cl_alive "$pidfile" "$name" && die "$name (pid $pid) still running after SIGKILL"
  fi
  rm -f "$pidfile"
}

# cl_spawn PIDFILE LOG CMD...: runs CMD detached (own session, no tty, output
# to LOG) so the caller and ctest do not wait for it, and records its pid.
cl_spawn() {
  local pidfile=$1 log=$2
  shift 2
  # In a non-interactive shell a background job is not a process-group
  # leader, so setsid calls setsid(2) and execs in place: $! is the daemon.
  setsid "$@" </dev/null >>"$log" 2>&1 &
  echo $! >"$pidfile"
}

# cl_nsx: the command prefix that runs a daemon where the control plane
# lives: nothing for the loopback-only cluster, `ip netns exec NS` when it
# has node VMs (NETNS in the state file).
cl_nsx() {
  NSX=()
  if [ -n "${NETNS:-}" ]; then NSX=(ip netns exec "$NETNS"); fi
}

# cl_admission_config DIR: writes and prints DIR/admission.yaml, the
# ResourceQuota admission plugin limiting pods of the system-* PriorityClasses
# to namespaces with a quota for them, as GKE configures its API servers (and
# as the Kubernetes docs' "limit Priority Class consumption by default" shows).
cl_admission_config() {
  cat >"$1/admission.yaml" <<'YAML'
apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
  - name: ResourceQuota
    configuration:
      apiVersion: apiserver.config.k8s.io/v1
      kind: ResourceQuotaConfiguration
      limitedResources:
        - resource: pods
          matchScopes:
            - scopeName: PriorityClass
              operator: In
              values: [system-node-critical, system-cluster-critical]
YAML
  echo "$1/admission.yaml"
}

# cl_apiserver_args DIR: the kube-apiserver command line (uses the state vars).
cl_apiserver_args() {
  local d=$1
  cl_nsx
  # shellcheck disable=SC2034,SC2054 # used by the callers; commas are in flag values
  APISERVER_ARGS=("${NSX[@]}" "$BIN/kube-apiserver")
  if [ -n "${NETNS:-}" ]; then
    # With nodes: inside the cluster's network namespace, on 443 so that the
    # "kubernetes" Service (10.96.0.1:443, a local address of the namespace)
    # reaches it from pods without a kube-proxy; the webhook Service is
    # called at its endpoints (pod IPs, routed to the node VMs).
    # shellcheck disable=SC2054 # commas are in flag values
    APISERVER_ARGS+=(
      --bind-address=0.0.0.0
      --advertise-address="$CL_GATEWAY"
      --secure-port=443
      --kubelet-client-certificate="$d/pki/apiserver-kubelet-client.crt"
      --kubelet-client-key="$d/pki/apiserver-kubelet-client.key"
      --kubelet-preferred-address-types=InternalIP
      --enable-aggregator-routing=true
      # The kubelets' TLS bootstrapping (lib-nodes.sh: cl_bootstrap_token).
      --enable-bootstrap-token-auth=true
      # Like GKE: system-* PriorityClasses only where a ResourceQuota covers them.
      --admission-control-config-file="$(cl_admission_config "$d")"
    )
  else
    APISERVER_ARGS+=(
      --bind-address=127.0.0.1
      --advertise-address=127.0.0.1
      --secure-port="$APISERVER_PORT"
      # ServiceAccount admission refuses pods whose service account does not
      # exist; the "default" account is made by kube-controller-manager, which
      # the loopback-only cluster does not run. Pods therefore carry no automatic token.
      --disable-admission-plugins=ServiceAccount
      # Endpoints of the "kubernetes" Service may not be loopback addresses;
      # nothing in these tests routes to it.
      --endpoint-reconciler-type=none
    )
  fi
  # shellcheck disable=SC2054 # commas are in flag values
  APISERVER_ARGS+=(
    --etcd-servers="http://127.0.0.1:$ETCD_CLIENT_PORT"
    --tls-cert-file="$d/pki/apiserver.crt"
    --tls-private-key-file="$d/pki/apiserver.key"
    --client-ca-file="$d/pki/ca.crt"
    --token-auth-file="$d/tokens.csv"
    --authorization-mode=Node,RBAC
    --enable-admission-plugins=MutatingAdmissionWebhook,ValidatingAdmissionWebhook,ValidatingAdmissionPolicy,NodeRestriction
    --service-account-issuer=https://kubernetes.default.svc.cluster.local
    --service-account-key-file="$d/pki/sa.pub"
    --service-account-signing-key-file="$d/pki/sa.key"
    --service-cluster-ip-range=10.96.0.0/16
    --allow-privileged=true
    # The apiserver would otherwise write self-signed certs to /var/run/kubernetes.
    --cert-dir="$d/pki"
    --profiling=false
    # ARMORGATE_CLUSTER_WATCH_CACHE=false at start: every watch and list goes
    # to etcd, so test/cluster/compact makes any older resourceVersion 410 Gone.
    --watch-cache="$WATCH_CACHE"
    --v=1
  )
}

# cl_wait_ready DIR TIMEOUT_S: polls /readyz with the admin cert until it
# answers "ok"; fails early when the apiserver process dies.
cl_wait_ready() {
  local d=$1 timeout=$2 deadline
  deadline=$(($(date +%s) + timeout))
  while :; do
    if curl -fsS --max-time 2 --cacert "$d/pki/ca.crt" \
        --cert "$d/pki/admin.crt" --key "$d/pki/admin.key" \
        "https://127.0.0.1:$APISERVER_PORT/readyz" 2>/dev/null | grep -qx ok; then
      return 0
    fi
    if ! cl_alive "$d/kube-apiserver.pid" kube-apiserver; then
      echo "test/cluster: kube-apiserver exited during start; last log lines:" >&2
      tail -n 40 "$d/logs/kube-apiserver.log" >&2
      return 1
    fi
    if (($(date +%s) >= deadline)); then
      echo "test/cluster: kube-apiserver not ready after $timeout s; last log lines:" >&2
      tail -n 40 "$d/logs/kube-apiserver.log" >&2
      curl -sS --max-time 2 --cacert "$d/pki/ca.crt" --cert "$d/pki/admin.crt" \
        --key "$d/pki/admin.key" "https://127.0.0.1:$APISERVER_PORT/readyz?verbose" 2>&1 | grep -v '\[+\]' >&2 || true
      return 1
    fi
    sleep 0.2
  done
}

# cl_load_state DIR: reads DIR/state (written by start) into the environment.
cl_load_state() {
  [ -r "$1/state" ] || die "$1 is not a cluster directory (no state file; run test/cluster/start $1)"
  # shellcheck disable=SC1091
  . "$1/state"
}

# cl_kubeconfig SERVER CA_FILE USER [FIELD VALUE]...: a kubeconfig on stdout,
# all data inline, for one user whose credentials are the FIELD VALUE pairs
# (client-certificate-data ..., token ...).
cl_kubeconfig() {
  local server=$1 ca=$2 user=$3
  shift 3
  printf 'apiVersion: v1\nkind: Config\nclusters:\n- name: armorgate-test\n  cluster:\n    server: %s\n' "$server"
  printf '    certificate-authority-data: %s\nusers:\n- name: %s\n  user:\n' "$(base64 -w0 <"$ca")" "$user"
  while [ $# -ge 2 ]; do
    printf '    %s: %s\n' "$1" "$2"
    shift 2
  done
  printf 'contexts:\n- name: armorgate-test\n  context:\n    cluster: armorgate-test\n    user: %s\n' "$user"
  printf 'current-context: armorgate-test\n'
}
