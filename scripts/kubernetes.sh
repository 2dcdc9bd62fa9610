# A real Kubernetes API server for the tests, without Docker: kube-apiserver
# and kube-controller-manager built once from Debian's own `kubernetes`
# source package with Debian's Go (about 10 minutes on 2 cores), cached
# outside the clone and rebuilt only when missing; etcd from Debian. There is
# no kubelet: the tests play it by patching pod status.
#
# Source this file; start_kubernetes exports CUTOVER_TEST_KUBECONFIG.

CUTOVER_K8S_CACHE="${CUTOVER_K8S_CACHE:-/var/tmp/cutover-k8s}"
CUTOVER_K8S_VERSION="1.20.5+really1.20.2-1.1+deb12u1"

build_kubernetes() {
  local bin="$CUTOVER_K8S_CACHE/bin"
  if [ -x "$bin/kube-apiserver" ] && [ -x "$bin/kube-controller-manager" ]; then
    return 0
  fi
  echo "building kube-apiserver and kube-controller-manager from Debian's source package (once, about 10 minutes)"
  if ! ls /etc/apt/sources.list.d/*src* >/dev/null 2>&1; then
    sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources >/etc/apt/sources.list.d/debian-src.sources
    apt-get update -qq
  fi
  local build="$CUTOVER_K8S_CACHE/build"
  mkdir -p "$build" "$bin"
  (
    cd "$build" || exit 1
    [ -f kubernetes_1.20.5+really1.20.2.orig.tar.gz ] || apt-get source --download-only "kubernetes=$CUTOVER_K8S_VERSION" >/dev/null 2>&1
    [ -d kubernetes-1.20.2 ] || tar xzf kubernetes_1.20.5+really1.20.2.orig.tar.gz
    cd kubernetes-1.20.2 || exit 1
    export PATH=/usr/lib/go-1.19/bin:$PATH GOPROXY=off GOFLAGS=-mod=vendor KUBE_BUILD_PLATFORMS=linux/amd64
    make WHAT="cmd/kube-apiserver cmd/kube-controller-manager" >"$build/make.log" 2>&1
  ) || { echo "building Kubernetes failed; see $build/make.log" >&2; return 1; }
  cp "$build/kubernetes-1.20.2/_output/bin/kube-apiserver" "$build/kubernetes-1.20.2/_output/bin/kube-controller-manager" "$bin/"
}

start_kubernetes() {
  build_kubernetes || return 1
  local bin="$CUTOVER_K8S_CACHE/bin" d token=cutover-test-token
  d="$(mktemp -d /tmp/cutover-k8s.XXXXXX)"
  CUTOVER_K8S_DIR="$d"
  openssl genrsa -out "$d/sa.key" 2048 >/dev/null 2>&1
  openssl rsa -in "$d/sa.key" -pubout -out "$d/sa.pub" >/dev/null 2>&1
  echo "$token,admin,admin,system:masters" >"$d/tokens.csv"
  local etcd_client etcd_peer api
  etcd_client="$(free_port)"; etcd_peer="$(free_port)"; api="$(free_port)"
  etcd --data-dir "$d/etcd" --listen-client-urls "http://127.0.0.1:$etcd_client" \
    --advertise-client-urls "http://127.0.0.1:$etcd_client" --listen-peer-urls "http://127.0.0.1:$etcd_peer" \
    --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer" --initial-cluster "default=http://127.0.0.1:$etcd_peer" \
    --unsafe-no-fsync >"$d/etcd.log" 2>&1 &
  CUTOVER_ETCD_PID=$!
  "$bin/kube-apiserver" --etcd-servers="http://127.0.0.1:$etcd_client" --bind-address=127.0.0.1 \
    --secure-port="$api" --cert-dir="$d/certs" --token-auth-file="$d/tokens.csv" \
    --authorization-mode=RBAC --service-account-issuer=https://kubernetes.default.svc \
    --service-account-key-file="$d/sa.pub" --service-account-signing-key-file="$d/sa.key" \
    --api-audiences=api --service-cluster-ip-range=10.0.0.0/24 \
    --disable-admission-plugins=ServiceAccount --insecure-port=0 >"$d/apiserver.log" 2>&1 &
  CUTOVER_APISERVER_PID=$!
  cat >"$d/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: https://127.0.0.1:$api
    insecure-skip-tls-verify: true
users:
- name: admin
  user:
    token: $token
contexts:
- name: test
  context:
    cluster: test
    user: admin
current-context: test
KC
  local ready=0
  for _ in $(seq 1 150); do
    if python3 -c "import ssl, urllib.request as u; c = ssl._create_unverified_context(); u.urlopen(u.Request('https://127.0.0.1:$api/readyz', headers={'Authorization': 'Bearer $token'}), context=c)" 2>/dev/null; then
      ready=1; break
    fi
    sleep 0.2
  done
  if [ "$ready" != 1 ]; then
    echo "kube-apiserver did not become ready; its log:" >&2
    tail -20 "$d/apiserver.log" >&2
    return 1
  fi
  "$bin/kube-controller-manager" --kubeconfig="$d/kubeconfig" \
    --controllers=deployment,replicaset,namespace,garbagecollector \
    --bind-address=127.0.0.1 --secure-port=0 --port=0 --leader-elect=false \
    --service-account-private-key-file="$d/sa.key" >"$d/controller-manager.log" 2>&1 &
  CUTOVER_CONTROLLER_PID=$!
  export CUTOVER_K8S_DIR CUTOVER_ETCD_PID CUTOVER_APISERVER_PID CUTOVER_CONTROLLER_PID
  export CUTOVER_TEST_KUBECONFIG="$d/kubeconfig"
  echo "Kubernetes API server on port $api (pids etcd $CUTOVER_ETCD_PID, apiserver $CUTOVER_APISERVER_PID, controller-manager $CUTOVER_CONTROLLER_PID)"
}

stop_kubernetes() {
  local p
  for p in "${CUTOVER_CONTROLLER_PID:-}" "${CUTOVER_APISERVER_PID:-}" "${CUTOVER_ETCD_PID:-}"; do
    if [ -n "$p" ]; then
      kill "$p" 2>/dev/null || true
      wait "$p" 2>/dev/null || true
    fi
  done
  if [ -n "${CUTOVER_K8S_DIR:-}" ]; then rm -rf "$CUTOVER_K8S_DIR"; fi
  unset CUTOVER_CONTROLLER_PID CUTOVER_APISERVER_PID CUTOVER_ETCD_PID CUTOVER_K8S_DIR
}
