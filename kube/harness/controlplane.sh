#!/usr/bin/env bash
# controlplane.sh starts and stops a throwaway Kubernetes control plane on
# loopback ports: etcd, kube-apiserver (static token auth, a self-signed
# serving certificate), kube-controller-manager, kube-scheduler and kwok,
# which fakes two nodes so that pods are scheduled and reach Running and
# Ready without a kubelet or containers. It adds a default StorageClass
# "standard" and hostPath PersistentVolumes for claims to bind to. Pod
# addresses exist only inside the API objects: nothing listens on them.
#
#   controlplane.sh start DIR   start it; DIR (made if missing) gets the
#                               state, the logs (*.log), the pids and
#                               DIR/kubeconfig; prints nothing else on
#                               stdout than the kubeconfig path
#   controlplane.sh stop DIR    stop every process start started, by pid
#
#   STACK_KUBE_BIN   the binaries (default: what bindir.sh prints;
#                    build.sh builds them)
#   PORT_BASE        first of the 2 loopback ports it takes (default:
#                    a free pair from 20000 up)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${STACK_KUBE_BIN:-$("$here/bindir.sh")}
cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }

stop() {
  [ -f "$dir/pids" ] || return 0
  local pids
  pids=$(tac "$dir/pids")
  for pid in $pids; do kill "$pid" 2>/dev/null || true; done
  for pid in $pids; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  rm -f "$dir/pids"
}

if [ "$cmd" = stop ]; then stop; exit 0; fi
[ "$cmd" = start ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }

for b in etcd kube-apiserver kube-controller-manager kube-scheduler kwok kwok-stages.yaml; do
  [ -e "$bin/$b" ] || { echo "$bin/$b is missing: run $here/build.sh" >&2; exit 3; }
done
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
trap 'stop' ERR

free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
base=${PORT_BASE:-}
if [ -z "$base" ]; then
  base=$((20000 + RANDOM % 20000))
  until free "$base" && free $((base + 1)) && free $((base + 2)); do base=$((base + 3)); done
fi
etcd_port=$base peer_port=$((base + 1)) api_port=$((base + 2))

token=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
echo "$token,stack-admin,stack-admin,system:masters" >"$dir/tokens.csv"
openssl genrsa -out "$dir/sa.key" 2048 2>/dev/null
openssl rsa -in "$dir/sa.key" -pubout -out "$dir/sa.pub" 2>/dev/null
cat >"$dir/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: throwaway
  cluster:
    server: https://127.0.0.1:$api_port
    insecure-skip-tls-verify: true
users:
- name: stack-admin
  user:
    token: $token
contexts:
- name: throwaway
  context: {cluster: throwaway, user: stack-admin}
current-context: throwaway
KC

run() { # name args...
  local name=$1; shift
  "$@" >"$dir/$name.log" 2>&1 &
  echo $! >>"$dir/pids"
}

run etcd "$bin/etcd" --name default --data-dir "$dir/etcd" \
  --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
  --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
  --initial-cluster "default=http://127.0.0.1:$peer_port" --unsafe-no-fsync --listen-metrics-urls ""

# --endpoint-reconciler-type=none: the default reconciler refuses a
# loopback advertise address for the kubernetes Service's endpoints.
run kube-apiserver "$bin/kube-apiserver" --etcd-servers "http://127.0.0.1:$etcd_port" \
  --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" --cert-dir "$dir/certs" \
  --token-auth-file "$dir/tokens.csv" --authorization-mode RBAC \
  --service-account-issuer https://kubernetes.default.svc --service-account-key-file "$dir/sa.pub" \
  --service-account-signing-key-file "$dir/sa.key" --service-cluster-ip-range 10.96.0.0/16 \
  --endpoint-reconciler-type none --enable-priority-and-fairness=false

api() { # method path [json]
  curl -ksS --fail-with-body -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -X "$1" "https://127.0.0.1:$api_port$2" ${3:+--data "$3"}
}
for i in $(seq 300); do
  if api GET /readyz >/dev/null 2>&1; then break; fi
  if ! kill -0 "$(sed -n 2p "$dir/pids")" 2>/dev/null || [ "$i" = 300 ]; then
    echo "kube-apiserver did not get ready: see $dir/kube-apiserver.log" >&2
    tail -5 "$dir/kube-apiserver.log" >&2
    exit 1
  fi
  sleep 0.1
done

run kube-controller-manager "$bin/kube-controller-manager" --kubeconfig "$dir/kubeconfig" \
  --leader-elect=false --secure-port 0 --service-account-private-key-file "$dir/sa.key" \
  --use-service-account-credentials=false --controllers '*,-nodeipam,-nodelifecycle' \
  --concurrent-deployment-syncs 10 --concurrent-statefulset-syncs 10
run kube-scheduler "$bin/kube-scheduler" --kubeconfig "$dir/kubeconfig" --leader-elect=false --secure-port 0
run kwok "$bin/kwok" --kubeconfig "$dir/kubeconfig" --config "$bin/kwok-stages.yaml" --manage-all-nodes=false \
  --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake --cidr 10.244.0.0/16 --node-ip 10.0.0.1 \
  --server-address ""

for n in 0 1; do
  api POST /api/v1/nodes "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"kwok-node-$n\",
    \"annotations\":{\"kwok.x-k8s.io/node\":\"fake\",\"node.alpha.kubernetes.io/ttl\":\"0\"},
    \"labels\":{\"type\":\"kwok\",\"kubernetes.io/hostname\":\"kwok-node-$n\",\"kubernetes.io/os\":\"linux\"}},
    \"status\":{\"allocatable\":{\"cpu\":\"32\",\"memory\":\"256Gi\",\"pods\":\"110\"},
    \"capacity\":{\"cpu\":\"32\",\"memory\":\"256Gi\",\"pods\":\"110\"}}}" >/dev/null
  # The API server taints a new node not-ready; the node lifecycle
  # controller, which would lift it, is off (it would want heartbeats).
  curl -ksS --fail-with-body -H "Authorization: Bearer $token" -H 'Content-Type: application/merge-patch+json' \
    -X PATCH "https://127.0.0.1:$api_port/api/v1/nodes/kwok-node-$n" --data '{"spec":{"taints":null}}' >/dev/null
done
api POST /apis/storage.k8s.io/v1/storageclasses '{"apiVersion":"storage.k8s.io/v1","kind":"StorageClass",
  "metadata":{"name":"standard","annotations":{"storageclass.kubernetes.io/is-default-class":"true"}},
  "provisioner":"kubernetes.io/no-provisioner","volumeBindingMode":"Immediate","reclaimPolicy":"Retain"}' >/dev/null
for n in $(seq -w 0 39); do
  api POST /api/v1/persistentvolumes "{\"apiVersion\":\"v1\",\"kind\":\"PersistentVolume\",
    \"metadata\":{\"name\":\"pv-$n\"},\"spec\":{\"storageClassName\":\"standard\",
    \"capacity\":{\"storage\":\"100Gi\"},\"accessModes\":[\"ReadWriteOnce\",\"ReadOnlyMany\",\"ReadWriteMany\"],
    \"persistentVolumeReclaimPolicy\":\"Retain\",\"hostPath\":{\"path\":\"$dir/volumes/pv-$n\"}}}" >/dev/null
done
trap - ERR
echo "$dir/kubeconfig"
