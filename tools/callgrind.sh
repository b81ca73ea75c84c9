#!/usr/bin/env bash
# User-space instructions per proxied request, deterministic (callgrind), for comparing builds
# where wall-clock figures drift: Portico (one worker) in front of an nginx upstream on
# 127.0.0.1:18180, 2,000 warm-up keep-alive `GET /small` from oha, counters zeroed, N measured
# requests, all threads counted. Needs valgrind, nginx and oha (without oha, the same requests
# come from tools/keepalive_get.py: the figure is the gateway's, whichever client sends them).
#
#   tools/callgrind.sh [BINARY] [N]     (default target/release/portico, 20000)
#
# PEER=nginx: the same requests through nginx as the proxy instead (one process, no master,
# `proxy_pass` to the same upstream over kept-alive connections, as ../shared/bench's plain
# proxy): the peer's figure measured the same way, for the ratio. BINARY is then ignored.
#
# ACCESS_LOG=json: the stage writes JSON access logs (the format `loadbench --access-log` uses)
# to a log group, which with no Logs endpoint set is a file under the data directory: the
# writer thread's instructions are counted with the worker's.
#
# Prints instructions per request; the profile stays in $OUT_DIR (callgrind_annotate it).
# CALLGRIND_OPTS: more valgrind options (`--dump-instr=yes` for per-instruction counts).
# Valgrind reads the release binary's debug info first: start-up takes a minute or two.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-target/release/portico}"
n="${2:-20000}"
out="${OUT_DIR:-$(mktemp -d /tmp/portico-callgrind.XXXXXX)}"
mkdir -p "$out/data"

# An nginx configuration: NAME (its pid, log and temp files under $out), then lines before
# `events` and lines inside `http`.
nginx_conf() {
  mkdir -p "$out/$1"
  cat > "$out/$1.conf" <<CONF
$2
worker_processes 1;
pid $out/$1.pid;
error_log $out/$1-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $out/$1; proxy_temp_path $out/$1; fastcgi_temp_path $out/$1;
  uwsgi_temp_path $out/$1; scgi_temp_path $out/$1;
$3
}
CONF
}
nginx_conf upstream "" \
  '  server { listen 127.0.0.1:18180 reuseport; location / { return 200 "ok"; } }'
stage='{"stageName":"$default"}'
if [ "${ACCESS_LOG:-}" = json ]; then
  # Keep in step with FORMAT in tools/src/access_log_bench.rs.
  stage='{"stageName":"$default","accessLogSettings":{"destinationArn":"arn:aws:logs:us-east-1:123456789012:log-group:bench-access","format":"{ \"requestId\":\"$context.requestId\", \"ip\": \"$context.identity.sourceIp\", \"requestTime\":\"$context.requestTime\", \"httpMethod\":\"$context.httpMethod\",\"routeKey\":\"$context.routeKey\", \"status\":\"$context.status\",\"protocol\":\"$context.protocol\", \"responseLength\":\"$context.responseLength\", \"responseLatency\":\"$context.responseLatency\", \"integrationLatency\":\"$context.integrationLatency\", \"integrationErrorMessage\":\"$context.integrationErrorMessage\", \"userAgent\":\"$context.identity.userAgent\", \"xrayTraceId\":\"$context.xrayTraceId\" }"}}'
fi
cat > "$out/portico.json" <<CONF
{"apis":[{"apiId":"bench","routes":[{"routeKey":"\$default","target":"integrations/up"}],
 "integrations":[{"integrationId":"up","integrationType":"HTTP_PROXY","integrationUri":"http://127.0.0.1:18180"}],
 "stages":[$stage]}]}
CONF

nginx -c "$out/upstream.conf"
cleanup() {
  kill -9 "${vg:-0}" 2>/dev/null || true
  kill "$(cat "$out/upstream.pid" 2>/dev/null)" 2>/dev/null || true
}
trap cleanup EXIT

if [ "${PEER:-}" = nginx ]; then
  nginx_conf proxy 'daemon off;
master_process off;' '  upstream up { server 127.0.0.1:18180; keepalive 256; }
  proxy_http_version 1.1;
  proxy_set_header Connection "";
  server { listen 127.0.0.1:18181 reuseport; location / { proxy_pass http://up; } }'
  valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.out" ${CALLGRIND_OPTS:-} \
    nginx -c "$out/proxy.conf" > "$out/stdout" 2> "$out/valgrind.log" &
  vg=$!
  for _ in $(seq 1 300); do
    python3 -c 'import socket; socket.create_connection(("127.0.0.1", 18181), 1).close()' \
      2> /dev/null && break
    sleep 0.2
  done
  echo "listen=127.0.0.1:18181" >> "$out/stdout"
else
valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.out" ${CALLGRIND_OPTS:-} \
  "$bin" serve --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 --data-dir "$out/data" \
  --workers 1 --config "$out/portico.json" \
  --account-rate-limit 100000000 --account-burst-limit 100000000 \
  > "$out/stdout" 2> "$out/valgrind.log" &
vg=$!
fi
# The start line is a log line (stderr, so in valgrind.log, with colour codes) or on stdout.
started() { cat "$out/stdout" "$out/valgrind.log" 2>/dev/null | sed 's/\x1b\[[0-9;]*m//g' | grep -o 'listen=[0-9.:]*' | head -1 | cut -d= -f2; }
for _ in $(seq 1 3000); do [ -n "$(started)" ] && break; sleep 0.2; done
addr=$(started)
[ -n "$addr" ] || { echo "portico did not start: $out/valgrind.log" >&2; exit 1; }

host="bench.execute-api.localhost"
load() {
  if command -v oha > /dev/null; then
    oha --no-tui -n "$1" -c 8 -H "Host: $host" "http://$addr/small"
  else
    python3 tools/keepalive_get.py "$addr" "$1" 8 "$host" /small
  fi
}
load 2000 > /dev/null
callgrind_control -z "$vg" > /dev/null 2>&1
load "$n" > "$out/oha.txt"
callgrind_control -d "$vg" > /dev/null 2>&1
sleep 1
grep -q '\[200\] '"$n"' responses' "$out/oha.txt" || { echo "not every request got a 200: $out/oha.txt" >&2; exit 1; }
total=$(grep -hE '^summary:' "$out"/callgrind.out.* | awk '{s += $2} END {print s}')
echo "instructions per request: $((total / n)) (profile: $(ls "$out"/callgrind.out.* | tail -1))"
