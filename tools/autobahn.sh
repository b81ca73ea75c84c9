#!/usr/bin/env bash
# Autobahn|Testsuite's fuzzing client (cases 1.1, 2 to 7 and 10) against a WebSocket API whose
# `$default` route echoes through a MOCK integration. Not part of CI (it installs Python 2.7
# packages and runs for a minute or two); prints the verdict per case and exits non-zero unless
# every case is OK, NON-STRICT or INFORMATIONAL.
#
#   tools/autobahn.sh            (needs target/debug/portico, or PORTICO_BIN)
#   PORTICO_ARGS="--driver legacy" tools/autobahn.sh    (extra `portico serve` flags)
#
# Needs pyenv's Python 2.7 with `pip install autobahntestsuite` (PYTHON2 overrides the path).
# The gateway runs with frame and message limits raised to 1 MiB: AWS's 32 KB frame limit
# closes cases 1.1.6-1.1.8 and 1.2.6-1.2.8 (single frames of 64 KB) with 1009 by design.
set -euo pipefail
cd "$(dirname "$0")/.."
python2="${PYTHON2:-$HOME/.pyenv/versions/2.7.18/bin/python}"
if ! "$python2" -c "import autobahntestsuite" 2>/dev/null; then
  "$python2" -m pip install --quiet autobahntestsuite
fi
bin="${PORTICO_BIN:-target/debug/portico}"
work="$(mktemp -d)"
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
env -u PORTICO_ADMIN_ACCESS_KEY_ID -u PORTICO_ADMIN_SECRET_ACCESS_KEY NO_COLOR=1 "$bin" serve \
  --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 --data-dir "$work/data" --workers 2 \
  --ws-frame-max-bytes 1048576 --ws-message-max-bytes 1048576 ${PORTICO_ARGS:-} \
  >"$work/ready" 2>"$work/log" &
pid=$!
for _ in $(seq 100); do grep -q listen "$work/ready" 2>/dev/null && break; sleep 0.1; done
read -r port admin < <(python3 - "$work/ready" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
addrs = re.findall(r"127\.0\.0\.1:(\d+)", text)
print(addrs[0], addrs[1])
PY
)
api=$(python3 - "$admin" <<'PY'
import sys, boto3
c = boto3.client("apigatewayv2", endpoint_url=f"http://127.0.0.1:{sys.argv[1]}",
                 region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
a = c.create_api(Name="echo", ProtocolType="WEBSOCKET",
                 RouteSelectionExpression="$request.body.action")["ApiId"]
i = c.create_integration(ApiId=a, IntegrationType="MOCK")["IntegrationId"]
c.create_integration_response(ApiId=a, IntegrationId=i, IntegrationResponseKey="$default")
r = c.create_route(ApiId=a, RouteKey="$default", Target=f"integrations/{i}",
                   RouteResponseSelectionExpression="$default")["RouteId"]
c.create_route_response(ApiId=a, RouteId=r, RouteResponseKey="$default")
c.create_stage(ApiId=a, StageName="prod", AutoDeploy=True)
print(a)
PY
)
cat >"$work/spec.json" <<JSON
{
  "outdir": "$work/reports",
  "servers": [{"agent": "portico", "url": "ws://$api.execute-api.localhost:$port/prod"}],
  "cases": ["1.1.*", "1.2.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "10.*"],
  "exclude-cases": [],
  "exclude-agent-cases": {}
}
JSON
(cd "$work" && "$python2" "$OLDPWD/tools/autobahn/wstest.py" -m fuzzingclient -s spec.json >"$work/wstest.log" 2>&1)
python3 - "$work/reports/index.json" <<'PY'
import json, sys, collections
index = json.load(open(sys.argv[1]))["portico"]
verdicts = collections.Counter(v["behavior"] for v in index.values())
bad = {k: v["behavior"] for k, v in index.items() if v["behavior"] not in ("OK", "NON-STRICT", "INFORMATIONAL")}
close_bad = {k: v["behaviorClose"] for k, v in index.items() if v["behaviorClose"] not in ("OK", "INFORMATIONAL")}
print(f"autobahn: {len(index)} cases: {dict(verdicts)}")
for k in sorted(bad, key=lambda s: [int(x) for x in s.split(".")]):
    print(f"  {k}: {bad[k]}")
if close_bad:
    print(f"  close handling not OK: {close_bad}")
sys.exit(1 if bad or close_bad else 0)
PY
