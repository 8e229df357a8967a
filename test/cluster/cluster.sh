#!/usr/bin/env bash
# `make cluster-up` / `make cluster-down` / `make cluster-status`: a real one-node Kubernetes cluster on
# this machine, for the in-cluster chart suite (make test-cluster). Needs root, containerd, runc, the CNI
# plugins and iptables (Debian: apt-get install containerd runc containernetworking-plugins iptables).
#
# Everything runs inside one network namespace the script makes (gochive-cluster), so kube-proxy's
# iptables rules, the pod bridge and every listening port live there and the host's own network is
# left alone. The host reaches that namespace over one veth pair:
#
#   host 10.201.0.1 <-veth-> 10.201.0.2 (namespace)   the test: API server :6443, FerretDB :27017, S3 :7070
#   cni0 10.202.0.1/24 in the namespace               pods (CNI bridge + host-local IPAM); the same servers
#   10.203.0.0/24                                     Service ClusterIPs (kube-proxy, iptables mode)
#
# Processes: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kube-proxy, containerd (with
# runc), kubelet, FerretDB and versitygw; the Kubernetes binaries, etcd, FerretDB and versitygw are the
# test environment's (test/env, built once per version into ~/.cache/gochive/testenv). They enter the
# namespace with `nsenter --net` only, so kubelet and containerd share the host's mount namespace (the
# kubelet's volume mounts must be visible to the runtime). No image registry is reachable: the pod
# sandbox image is built from test/cluster/pause and imported into containerd.
#
# `down` stops every process it started, kills the pods' containers, unmounts what they mounted,
# removes the pods' network namespaces, the cgroups the kubelet made, and the namespace itself (which
# takes the veth, the bridge and kube-proxy's rules with it).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/gochive
TESTENV_CACHE=$CACHE/testenv
K8S_VERSION=v1.36.3
KBIN=$TESTENV_CACHE/kubernetes-$K8S_VERSION
NBIN=$TESTENV_CACHE/kubernetes-node-$K8S_VERSION
ETCD=$TESTENV_CACHE/etcd-v3.6.16/etcd
FERRETDB=$TESTENV_CACHE/ferretdb-v1.24.2/ferretdb
VERSITYGW=$TESTENV_CACHE/versitygw-v1.7.0/versitygw
HELM_DIR=$TESTENV_CACHE/helm-v3.22.0

STATE=$REPO/.testenv/cluster          # pids, logs, PKI, kubeconfig, env file (gitignored)
DATA=/var/lib/gochive-cluster         # etcd, containerd, kubelet, FerretDB and bucket data
RUN=/run/gochive-cluster              # containerd state and socket
NETNS=gochive-cluster
NODE=gochive-node
HOST_IP=10.201.0.1
NS_IP=10.201.0.2
GW_IP=10.202.0.1
POD_CIDR=10.202.0.0/24
SVC_CIDR=10.203.0.0/24
SVC_API_IP=10.203.0.1
API_PORT=6443
MONGO_PORT=27017
S3_PORT=7070
PAUSE_IMAGE=gochive.local/pause:1
CTR_SOCK=$RUN/containerd.sock

log() { printf 'cluster: %s\n' "$*" >&2; }
die() {
  log "$*"
  exit 1
}
in_ns() { nsenter --net="/run/netns/$NETNS" -- "$@"; }
ctr_() { ctr --address "$CTR_SOCK" --namespace k8s.io "$@"; }
kc() { "$KBIN/kubectl" --kubeconfig "$STATE/admin.kubeconfig" "$@"; }

# ---- prerequisites --------------------------------------------------------------------------------
check_prereqs() {
  [ "$(id -u)" = 0 ] || die "needs root (it makes a network namespace, runs containerd and a kubelet)"
  local missing=()
  for c in containerd containerd-shim-runc-v2 runc ctr iptables nsenter ip openssl conntrack; do
    command -v "$c" >/dev/null || missing+=("$c")
  done
  [ -x /usr/lib/cni/bridge ] || [ -x /opt/cni/bin/bridge ] || missing+=("CNI plugins")
  [ ${#missing[@]} -eq 0 ] || die "missing: ${missing[*]} (apt-get install -y containerd runc containernetworking-plugins iptables conntrack)"
}

cni_bin_dir() { if [ -x /usr/lib/cni/bridge ]; then echo /usr/lib/cni; else echo /opt/cni/bin; fi; }

# The binaries, built by the test environment's builder (cached per version).
build_binaries() {
  local t0
  t0=$(date +%s)
  (cd "$REPO" && node test/env/launch.mjs build etcd kubernetes kubernetesNode ferretdb versitygw helm)
  log "binaries ready in $(($(date +%s) - t0))s"
}

# ---- PKI ------------------------------------------------------------------------------------------
# One CA signs everything: the API server's and the kubelet's serving certs and the client certs of the
# admin, the node and the control-plane components. The service-account key pair signs pod tokens.
cert() { # name subject [sans]
  local name=$1 subj=$2 sans=${3:-}
  openssl req -new -newkey rsa:2048 -nodes -keyout "$STATE/pki/$name.key" -subj "$subj" \
    -out "$STATE/pki/$name.csr" 2>/dev/null
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    if [ -n "$sans" ]; then
      echo "extendedKeyUsage=serverAuth,clientAuth"
      echo "subjectAltName=$sans"
    else
      echo "extendedKeyUsage=clientAuth"
    fi
  } >"$STATE/pki/$name.ext"
  openssl x509 -req -in "$STATE/pki/$name.csr" -CA "$STATE/pki/ca.crt" -CAkey "$STATE/pki/ca.key" \
    -CAcreateserial -days 30 -extfile "$STATE/pki/$name.ext" -out "$STATE/pki/$name.crt" 2>/dev/null
  rm -f "$STATE/pki/$name.csr" "$STATE/pki/$name.ext"
}

make_pki() {
  mkdir -p "$STATE/pki"
  chmod 700 "$STATE/pki"
  openssl req -x509 -new -newkey rsa:2048 -nodes -keyout "$STATE/pki/ca.key" -subj "/CN=gochive-cluster-ca" \
    -days 30 -out "$STATE/pki/ca.crt" 2>/dev/null
  cert apiserver "/CN=kube-apiserver" \
    "IP:$NS_IP,IP:$GW_IP,IP:$SVC_API_IP,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  cert kubelet "/CN=$NODE" "IP:$GW_IP,IP:$NS_IP,DNS:$NODE"
  cert admin "/O=system:masters/CN=gochive-cluster-admin"
  cert node "/O=system:nodes/CN=system:node:$NODE"
  cert controller-manager "/CN=system:kube-controller-manager"
  cert scheduler "/CN=system:kube-scheduler"
  cert proxy "/CN=system:kube-proxy"
  openssl genrsa -out "$STATE/pki/sa.key" 2048 2>/dev/null
  openssl rsa -in "$STATE/pki/sa.key" -pubout -out "$STATE/pki/sa.pub" 2>/dev/null
  for who in admin node controller-manager scheduler proxy; do
    kubeconfig "$who" "https://$NS_IP:$API_PORT" >"$STATE/$who.kubeconfig"
  done
}

kubeconfig() { # client-cert-name server
  cat <<EOF
apiVersion: v1
kind: Config
clusters:
- name: gochive-cluster
  cluster:
    server: $2
    certificate-authority: $STATE/pki/ca.crt
users:
- name: $1
  user:
    client-certificate: $STATE/pki/$1.crt
    client-key: $STATE/pki/$1.key
contexts:
- name: gochive-cluster
  context: {cluster: gochive-cluster, user: $1}
current-context: gochive-cluster
EOF
}

# ---- network --------------------------------------------------------------------------------------
make_network() {
  ip netns add "$NETNS"
  in_ns ip link set lo up
  ip link add gch0 type veth peer name gcn0
  ip link set gcn0 netns "$NETNS"
  ip addr add "$HOST_IP/30" dev gch0
  ip link set gch0 up
  in_ns ip addr add "$NS_IP/30" dev gcn0
  in_ns ip link set gcn0 up
  # The pod bridge exists before any pod so the API server, FerretDB and versitygw can bind its gateway.
  in_ns ip link add cni0 type bridge
  in_ns ip addr add "$GW_IP/24" dev cni0
  in_ns ip link set cni0 up
  in_ns sysctl -qw net.ipv4.ip_forward=1
  # Service traffic between two pods on the bridge must pass iptables (kube-proxy also masquerades all
  # service traffic, so replies come back through the gateway even where br_netfilter is absent).
  in_ns sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null || true
  mkdir -p "$STATE/cni"
  cat >"$STATE/cni/10-gochive.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "gochive",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{ "subnet": "$POD_CIDR", "gateway": "$GW_IP" }]],
        "routes": [{ "dst": "0.0.0.0/0" }],
        "dataDir": "$DATA/cni-ipam"
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
EOF
}

# ---- processes ------------------------------------------------------------------------------------
start() { # name cmd... : runs in the namespace, detached, logging to $STATE/logs/<name>.log
  local name=$1
  shift
  setsid nsenter --net="/run/netns/$NETNS" -- "$@" >"$STATE/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$STATE/pids/$name"
}

alive() { [ -f "$STATE/pids/$1" ] && kill -0 "$(cat "$STATE/pids/$1")" 2>/dev/null; }

wait_for() { # what timeout-seconds process-name command...
  local what=$1 limit=$2 proc=$3
  shift 3
  local deadline=$(($(date +%s) + limit))
  until "$@" >/dev/null 2>&1; do
    if [ -n "$proc" ] && ! alive "$proc"; then
      tail -n 30 "$STATE/logs/$proc.log" >&2 || true
      die "$proc exited while waiting for $what (log: $STATE/logs/$proc.log)"
    fi
    [ "$(date +%s)" -lt "$deadline" ] || {
      [ -z "$proc" ] || tail -n 30 "$STATE/logs/$proc.log" >&2 || true
      die "timed out after ${limit}s waiting for $what"
    }
    sleep 1
  done
}

tcp_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

start_control_plane() {
  mkdir -p "$DATA/etcd"
  start etcd "$ETCD" --name=gochive-cluster --data-dir="$DATA/etcd" \
    --listen-client-urls=http://127.0.0.1:2379 --advertise-client-urls=http://127.0.0.1:2379 \
    --listen-peer-urls=http://127.0.0.1:2380 --initial-advertise-peer-urls=http://127.0.0.1:2380 \
    --initial-cluster=gochive-cluster=http://127.0.0.1:2380 --unsafe-no-fsync=true --log-level=warn
  wait_for "etcd" 60 etcd in_ns bash -c 'exec 3<>/dev/tcp/127.0.0.1/2379'

  start kube-apiserver "$KBIN/kube-apiserver" \
    --etcd-servers=http://127.0.0.1:2379 \
    --bind-address=0.0.0.0 --secure-port=$API_PORT --advertise-address=$GW_IP \
    --tls-cert-file="$STATE/pki/apiserver.crt" --tls-private-key-file="$STATE/pki/apiserver.key" \
    --client-ca-file="$STATE/pki/ca.crt" \
    --kubelet-client-certificate="$STATE/pki/admin.crt" --kubelet-client-key="$STATE/pki/admin.key" \
    --kubelet-certificate-authority="$STATE/pki/ca.crt" --kubelet-preferred-address-types=InternalIP \
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$STATE/pki/sa.pub" --service-account-signing-key-file="$STATE/pki/sa.key" \
    --service-cluster-ip-range=$SVC_CIDR --allow-privileged=true --profiling=false --v=1
  wait_for "kube-apiserver /readyz" 300 kube-apiserver kc get --raw /readyz

  start kube-controller-manager "$NBIN/kube-controller-manager" \
    --kubeconfig="$STATE/controller-manager.kubeconfig" \
    --authentication-kubeconfig="$STATE/controller-manager.kubeconfig" \
    --authorization-kubeconfig="$STATE/controller-manager.kubeconfig" \
    --service-account-private-key-file="$STATE/pki/sa.key" --root-ca-file="$STATE/pki/ca.crt" \
    --use-service-account-credentials=true --leader-elect=false --bind-address=127.0.0.1 \
    --controllers='*,-nodeipam,-cloud-node-lifecycle,-service,-route' --v=1
  start kube-scheduler "$NBIN/kube-scheduler" \
    --kubeconfig="$STATE/scheduler.kubeconfig" \
    --authentication-kubeconfig="$STATE/scheduler.kubeconfig" \
    --authorization-kubeconfig="$STATE/scheduler.kubeconfig" \
    --leader-elect=false --bind-address=127.0.0.1 --v=1
  cat >"$STATE/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {kubeconfig: $STATE/proxy.kubeconfig}
hostnameOverride: $NODE
clusterCIDR: $POD_CIDR
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
iptables: {masqueradeAll: true}
conntrack: {maxPerCore: 0}
EOF
  start kube-proxy "$NBIN/kube-proxy" --config="$STATE/kube-proxy.yaml" --v=1
}

start_servers() {
  mkdir -p "$DATA/ferretdb" "$DATA/buckets" "$DATA/sidecar"
  start ferretdb "$FERRETDB" -listen-addr=0.0.0.0:$MONGO_PORT -sqlite-url="file:$DATA/ferretdb/" -log-level=warn
  ROOT_ACCESS_KEY_ID=gochive-cluster ROOT_SECRET_ACCESS_KEY=gochive-cluster-secret \
    start versitygw "$VERSITYGW" --port=0.0.0.0:$S3_PORT --region=us-east-1 --quiet posix \
    --sidecar="$DATA/sidecar" "$DATA/buckets"
  wait_for "FerretDB" 60 ferretdb tcp_open "$NS_IP" "$MONGO_PORT"
  wait_for "versitygw" 60 versitygw tcp_open "$NS_IP" "$S3_PORT"
}

start_node() {
  mkdir -p "$DATA/containerd" "$RUN" "$DATA/kubelet"
  cat >"$STATE/containerd.toml" <<EOF
version = 2
root = "$DATA/containerd"
state = "$RUN/containerd"
[grpc]
  address = "$CTR_SOCK"
[ttrpc]
  address = "$RUN/containerd.ttrpc.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # The test machines refuse a negative oom_score_adj (the kubelet asks -998 for sandboxes); keep every
  # container at or above containerd's own score instead.
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$(cni_bin_dir)"
    conf_dir = "$STATE/cni"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
EOF
  start containerd containerd --config "$STATE/containerd.toml"
  wait_for "containerd" 60 containerd ctr --address "$CTR_SOCK" version

  pause_image
  import_images

  cat >"$STATE/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# The test machines mount cgroup v1 hierarchies (cgroup2 only beside them).
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$CTR_SOCK
address: $GW_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: $STATE/pki/kubelet.crt
tlsPrivateKeyFile: $STATE/pki/kubelet.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $STATE/pki/ca.crt}
authorization: {mode: Webhook}
failSwapOn: false
# No DNS server runs: pods use IP addresses, and the host's resolv.conf otherwise.
resolvConf: /etc/resolv.conf
podCIDR: $POD_CIDR
hairpinMode: hairpin-veth
# A shared test machine's disk is often fuller than the defaults allow; don't evict for that.
evictionHard: {memory.available: "50Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
EOF
  start kubelet "$NBIN/kubelet" --config="$STATE/kubelet.yaml" --kubeconfig="$STATE/node.kubeconfig" \
    --root-dir="$DATA/kubelet" --hostname-override=$NODE --node-ip=$GW_IP --v=1
  wait_for "node $NODE to be Ready" 180 kubelet \
    bash -c "'$KBIN/kubectl' --kubeconfig '$STATE/admin.kubeconfig' get node $NODE -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' | grep -qx True"
  wait_for "the default ServiceAccount" 60 kube-controller-manager kc get serviceaccount default -n default
}

# The sandbox image: test/cluster/pause built with Go, packed as a one-layer OCI image, cached.
pause_image() {
  local dir=$CACHE/cluster/pause
  if [ ! -f "$dir/pause.tar" ]; then
    local tmp
    tmp=$(mktemp -d)
    (cd "$REPO/test/cluster/pause" && GOTOOLCHAIN=local CGO_ENABLED=0 GOWORK=off GOFLAGS=-mod=readonly \
      go build -trimpath -ldflags=-s -o "$tmp/pause" .)
    node "$REPO/test/cluster/oci-archive.mjs" --out "$tmp/pause.tar" --name "$PAUSE_IMAGE" \
      --entrypoint /pause --user 65535:65535 --file "$tmp/pause:/pause"
    mkdir -p "$dir"
    mv "$tmp/pause.tar" "$dir/pause.tar"
    rm -rf "$tmp"
  fi
  ctr_ images import --all-platforms "$dir/pause.tar" >/dev/null
}

# Images left in $STATE/images (make cluster-image puts the operator's there) are imported too.
import_images() {
  local f
  for f in "$STATE"/images/*.tar; do
    [ -f "$f" ] || continue
    ctr_ images import --all-platforms "$f" >/dev/null
  done
}

write_env() {
  cat >"$STATE/env" <<EOF
# Written by test/cluster/cluster.sh up; sourced by test/cluster/run.sh.
export KUBECONFIG=$STATE/admin.kubeconfig
export GOCHIVE_CLUSTER_BIN=$KBIN:$HELM_DIR
export MONGODB_URI=mongodb://$NS_IP:$MONGO_PORT/
export AWS_ENDPOINT_URL_S3=http://$NS_IP:$S3_PORT
export AWS_ACCESS_KEY_ID=gochive-cluster
export AWS_SECRET_ACCESS_KEY=gochive-cluster-secret
export AWS_REGION=us-east-1
export GOCHIVE_E2E_CLUSTER_MONGODB_HOST=$GW_IP:$MONGO_PORT
export GOCHIVE_E2E_CLUSTER_S3_ENDPOINT=http://$GW_IP:$S3_PORT
export GOCHIVE_CLUSTER_CTR_SOCK=$CTR_SOCK
EOF
}

# ---- commands -------------------------------------------------------------------------------------
is_up() { [ -e "/run/netns/$NETNS" ] && alive kube-apiserver && alive kubelet && kc get --raw /readyz >/dev/null 2>&1; }

up() {
  check_prereqs
  if is_up; then
    import_images
    log "already up (KUBECONFIG=$STATE/admin.kubeconfig)"
    return 0
  fi
  [ ! -e "/run/netns/$NETNS" ] || down
  local t0
  t0=$(date +%s)
  build_binaries
  # A set-up that fails half way leaves nothing running behind it.
  trap 'log "set-up failed; stopping what it started"; down' EXIT
  rm -rf "$STATE/pki" "$STATE/logs" "$STATE/pids" "$DATA"
  mkdir -p "$STATE/logs" "$STATE/pids" "$DATA"
  make_pki
  make_network
  start_control_plane
  start_servers
  start_node
  write_env
  trap - EXIT
  log "up in $(($(date +%s) - t0))s: KUBECONFIG=$STATE/admin.kubeconfig; env: $STATE/env; logs: $STATE/logs"
}

stop_pid() { # name: SIGTERM, then SIGKILL after 20 s
  local f=$STATE/pids/$1 pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.5
    done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

# The pods' containers: killed through containerd, then their shims and network namespaces removed.
stop_containers() {
  [ -S "$CTR_SOCK" ] || return 0
  ctr --address "$CTR_SOCK" version >/dev/null 2>&1 || return 0
  local netnses=() c
  for c in $(ctr_ containers ls -q 2>/dev/null); do
    local p
    p=$(ctr_ containers info "$c" 2>/dev/null |
      sed -n 's/.*"path": "\(\/var\/run\/netns\/cni-[^"]*\)".*/\1/p' | head -n 1)
    [ -z "$p" ] || netnses+=("$p")
    ctr_ tasks kill -s SIGKILL "$c" >/dev/null 2>&1 || true
  done
  for c in $(ctr_ containers ls -q 2>/dev/null); do
    for _ in $(seq 1 20); do
      ctr_ tasks delete "$c" >/dev/null 2>&1 && break
      ctr_ tasks ls -q 2>/dev/null | grep -qx "$c" || break
      sleep 0.5
    done
    ctr_ containers delete "$c" >/dev/null 2>&1 || true
  done
  for p in "${netnses[@]}"; do
    umount "$p" 2>/dev/null || true
    rm -f "$p"
  done
}

unmount_under() { # every mount below the given directories, deepest first
  local dirs=("$@") m
  awk '{print $2}' /proc/self/mounts | sort -r | while read -r m; do
    for d in "${dirs[@]}"; do
      case "$m" in "$d" | "$d"/*) umount -l "$m" 2>/dev/null || true ;; esac
    done
  done
}

remove_cgroups() { # the kubelet's pod cgroups (cgroupfs driver), deepest first
  local h
  for h in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/unified/kubepods /sys/fs/cgroup/kubepods; do
    [ -d "$h" ] || continue
    find "$h" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
}

down() {
  local t0
  t0=$(date +%s)
  stop_pid kubelet
  stop_containers
  for p in kube-proxy kube-scheduler kube-controller-manager kube-apiserver etcd ferretdb versitygw containerd; do
    stop_pid "$p"
  done
  unmount_under "$DATA" "$RUN"
  remove_cgroups
  if [ -e "/run/netns/$NETNS" ]; then ip netns del "$NETNS"; fi
  ip link del gch0 2>/dev/null || true # gone with the namespace; only left if a set-up stopped half way
  rm -rf "$DATA" "$RUN" "$STATE/pids" "$STATE/env"
  log "down in $(($(date +%s) - t0))s"
}

status() {
  if is_up; then
    kc get nodes -o wide
    return 0
  fi
  log "not up"
  return 1
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *)
    echo "usage: $0 up | down | status" >&2
    exit 2
    ;;
esac
