# Local stand-ins for the test suite, started and stopped by PID.
# Source this file, then call start_services / stop_services.
#
#   moto: the AWS stand-in on a free loopback port; CUTOVER_TEST_AWS_ENDPOINT.
#   Kubernetes: etcd, kube-apiserver, kube-controller-manager (scripts/kubernetes.sh);
#   CUTOVER_TEST_KUBECONFIG.
#   Prometheus: scraping a static exporter every second; CUTOVER_TEST_PROMETHEUS.
#   PostgreSQL: a throwaway cluster (initdb) on a free loopback port with its
#   socket in a temporary directory and TLS on; CUTOVER_TEST_PG holds its URL,
#   CUTOVER_TEST_PG_CA the authority that signed its certificate.

pg_bin() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1
}

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_postgres() {
  local bin
  bin="$(pg_bin)"
  if [ -z "$bin" ]; then
    echo "PostgreSQL is not installed (Debian: apt-get install postgresql)" >&2
    return 1
  fi
  CUTOVER_PG_DIR="$(mktemp -d /tmp/cutover-pg.XXXXXX)"
  if [ "$(id -u)" = 0 ]; then chown postgres "$CUTOVER_PG_DIR"; fi
  local port
  port="$(free_port)"
  as_pg "$bin/initdb" -D "$CUTOVER_PG_DIR/data" -U postgres --auth=trust >"$CUTOVER_PG_DIR/initdb.log" 2>&1
  # TLS: a throwaway certificate authority, and a server certificate for
  # 127.0.0.1 signed by it (the tests verify against the authority).
  local d="$CUTOVER_PG_DIR"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=cutover test CA" \
    -keyout "$d/ca.key" -out "$d/ca.crt" >/dev/null 2>&1
  openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$d/server.key" -out "$d/server.csr" >/dev/null 2>&1
  printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$d/server.ext"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
    -extfile "$d/server.ext" -out "$d/server.crt" >/dev/null 2>&1
  chmod 600 "$d/server.key"
  if [ "$(id -u)" = 0 ]; then chown postgres "$d/server.key" "$d/server.crt"; fi
  as_pg "$bin/pg_ctl" -D "$CUTOVER_PG_DIR/data" -l "$CUTOVER_PG_DIR/server.log" -w \
    -o "-p $port -k $CUTOVER_PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200 -c ssl=on -c ssl_cert_file=$CUTOVER_PG_DIR/server.crt -c ssl_key_file=$CUTOVER_PG_DIR/server.key" start >/dev/null
  CUTOVER_PG_PID="$(head -1 "$CUTOVER_PG_DIR/data/postmaster.pid")"
  export CUTOVER_PG_DIR CUTOVER_PG_PID
  export CUTOVER_TEST_PG="postgres://postgres@127.0.0.1:$port/postgres"
  export CUTOVER_TEST_PG_CA="$CUTOVER_PG_DIR/ca.crt"
  echo "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on port $port (pid $CUTOVER_PG_PID)"
}

stop_postgres() {
  if [ -n "${CUTOVER_PG_PID:-}" ]; then
    kill -INT "$CUTOVER_PG_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$CUTOVER_PG_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$CUTOVER_PG_PID" 2>/dev/null || true
  fi
  if [ -n "${CUTOVER_PG_DIR:-}" ]; then rm -rf "$CUTOVER_PG_DIR"; fi
  unset CUTOVER_PG_PID CUTOVER_PG_DIR
}

# moto: the AWS stand-in, from PyPI, in a virtual environment kept outside
# the clone (rebuilt whenever it is missing); ready when its reset API answers.
start_moto() {
  local venv="${CUTOVER_MOTO_VENV:-/var/tmp/cutover-moto-venv}"
  if [ ! -x "$venv/bin/moto_server" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q 'moto[server]'
  fi
  local port
  port="$(free_port)"
  CUTOVER_MOTO_LOG="$(mktemp /tmp/cutover-moto.XXXXXX)"
  "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$CUTOVER_MOTO_LOG" 2>&1 &
  CUTOVER_MOTO_PID=$!
  export CUTOVER_MOTO_PID CUTOVER_MOTO_LOG
  for _ in $(seq 1 100); do
    if python3 -c "import urllib.request as u; u.urlopen(u.Request('http://127.0.0.1:$port/moto-api/reset', method='POST'))" 2>/dev/null; then
      export CUTOVER_TEST_AWS_ENDPOINT="http://127.0.0.1:$port"
      echo "moto $("$venv/bin/pip" show moto 2>/dev/null | awk '/^Version/ {print $2}') on port $port (pid $CUTOVER_MOTO_PID)"
      return 0
    fi
    sleep 0.2
  done
  echo "moto did not start; its log:" >&2
  cat "$CUTOVER_MOTO_LOG" >&2
  return 1
}

stop_moto() {
  if [ -n "${CUTOVER_MOTO_PID:-}" ]; then
    kill "$CUTOVER_MOTO_PID" 2>/dev/null || true
    wait "$CUTOVER_MOTO_PID" 2>/dev/null || true
  fi
  if [ -n "${CUTOVER_MOTO_LOG:-}" ]; then rm -f "$CUTOVER_MOTO_LOG"; fi
  unset CUTOVER_MOTO_PID CUTOVER_MOTO_LOG
}

# Prometheus (Debian's package) scraping a static exporter every second:
# request and error counters of a v1 and a v2; CUTOVER_TEST_PROMETHEUS.
start_prometheus() {
  if ! command -v prometheus >/dev/null; then
    echo "Prometheus is not installed (Debian: apt-get install prometheus)" >&2
    return 1
  fi
  local d port exporter
  d="$(mktemp -d /tmp/cutover-prom.XXXXXX)"
  CUTOVER_PROM_DIR="$d"
  mkdir -p "$d/exporter"
  cat >"$d/exporter/metrics" <<'METRICS'
# TYPE http_requests_total counter
http_requests_total{version="v1"} 1000
http_requests_total{version="v2"} 200
# TYPE http_errors_total counter
http_errors_total{version="v1"} 5
http_errors_total{version="v2"} 8
METRICS
  exporter="$(free_port)"
  port="$(free_port)"
  python3 -m http.server "$exporter" --bind 127.0.0.1 --directory "$d/exporter" >"$d/exporter.log" 2>&1 &
  CUTOVER_PROM_EXPORTER_PID=$!
  cat >"$d/prometheus.yml" <<CONFIG
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: app
    static_configs:
      - targets: ["127.0.0.1:$exporter"]
CONFIG
  prometheus --config.file="$d/prometheus.yml" --storage.tsdb.path="$d/data" \
    --web.listen-address="127.0.0.1:$port" >"$d/prometheus.log" 2>&1 &
  CUTOVER_PROM_PID=$!
  export CUTOVER_PROM_DIR CUTOVER_PROM_PID CUTOVER_PROM_EXPORTER_PID
  # Ready once the exporter has been scraped.
  for _ in $(seq 1 150); do
    if python3 -c "import json, urllib.request as u, urllib.parse as p; r = json.load(u.urlopen('http://127.0.0.1:$port/api/v1/query?' + p.urlencode({'query': 'http_requests_total'}))); exit(0 if len(r['data']['result']) == 2 else 1)" 2>/dev/null; then
      export CUTOVER_TEST_PROMETHEUS="http://127.0.0.1:$port"
      echo "Prometheus $(prometheus --version 2>&1 | awk 'NR == 1 {print $3}') on port $port (pid $CUTOVER_PROM_PID)"
      return 0
    fi
    sleep 0.2
  done
  echo "Prometheus did not scrape its target; its log:" >&2
  tail -20 "$d/prometheus.log" >&2
  return 1
}

stop_prometheus() {
  local p
  for p in "${CUTOVER_PROM_PID:-}" "${CUTOVER_PROM_EXPORTER_PID:-}"; do
    if [ -n "$p" ]; then
      kill "$p" 2>/dev/null || true
      wait "$p" 2>/dev/null || true
    fi
  done
  if [ -n "${CUTOVER_PROM_DIR:-}" ]; then rm -rf "$CUTOVER_PROM_DIR"; fi
  unset CUTOVER_PROM_PID CUTOVER_PROM_EXPORTER_PID CUTOVER_PROM_DIR
}

. "$(dirname "${BASH_SOURCE[0]}")/kubernetes.sh"

start_services() {
  start_postgres
  start_moto
  start_prometheus
  start_kubernetes
}

stop_services() {
  stop_kubernetes
  stop_prometheus
  stop_moto
  stop_postgres
}
