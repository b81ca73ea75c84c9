#!/usr/bin/env bash
# User-space instructions per proxied request, deterministic (callgrind), for comparing builds
# where wall-clock figures drift: Portico (one worker) in front of an nginx upstream on
# 127.0.0.1:18180, 2,000 warm-up keep-alive `GET /small` from oha, counters zeroed, N measured
# requests, all threads counted. Needs valgrind, nginx and oha (without oha, the same requests
# come from tools/keepalive_get.py: the figure is the gateway's, whichever client sends them).
#
#   tools/callgrind.sh [BINARY] [N]     (default target/release/portico, 20000)
#
# ACCESS_LOG=json: the stage writes JSON access logs (the format `loadbench --access-log` uses)
# to a log group, which with no Logs endpoint set is a file under the data directory: the
# writer thread's instructions are counted with the worker's.
#
# Prints instructions per request; the profile stays in $OUT_DIR (callgrind_annotate it).
# Valgrind reads the release binary's debug info first: start-up takes a minute or two.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-target/release/portico}"
n="${2:-20000}"
out="${OUT_DIR:-$(mktemp -d /tmp/portico-callgrind.XXXXXX)}"
mkdir -p "$out/data" "$out/nginx"

cat > "$out/upstream.conf" <<CONF
worker_processes 1;
pid $out/nginx.pid;
error_log $out/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $out/nginx; proxy_temp_path $out/nginx; fastcgi_temp_path $out/nginx;
  uwsgi_temp_path $out/nginx; scgi_temp_path $out/nginx;
  server { listen 127.0.0.1:18180 reuseport; location / { return 200 "ok"; } }
}
CONF
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
  kill "$(cat "$out/nginx.pid" 2>/dev/null)" 2>/dev/null || true
}
trap cleanup EXIT

valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.out" \
  "$bin" serve --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 --data-dir "$out/data" \
  --workers 1 --config "$out/portico.json" \
  --account-rate-limit 100000000 --account-burst-limit 100000000 \
  > "$out/stdout" 2> "$out/valgrind.log" &
vg=$!
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
