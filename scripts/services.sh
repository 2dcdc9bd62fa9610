# Local stand-ins for the test suite, started and stopped by PID.
# Source this file, then call start_services / stop_services.
#
#   moto: the AWS stand-in on a free loopback port; CUTOVER_TEST_AWS_ENDPOINT.
#   Kubernetes: etcd, kube-apiserver, kube-controller-manager (scripts/kubernetes.sh);
#   CUTOVER_TEST_KUBECONFIG.
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

. "$(dirname "${BASH_SOURCE[0]}")/kubernetes.sh"

start_services() {
  start_postgres
  start_moto
  start_kubernetes
}

stop_services() {
  stop_kubernetes
  stop_moto
  stop_postgres
}
