# Runs Autobahn|Testsuite's `wstest` (Python 2.7) with `*.localhost` names resolving to
# 127.0.0.1 (RFC 6761), so the fuzzing client can address an API as
# `{apiId}.execute-api.localhost` like any other client.
import re
import socket
import sys

_gethostbyname = socket.gethostbyname
_getaddrinfo = socket.getaddrinfo


def _loopback(host):
    if host and host.endswith(".localhost"):
        return "127.0.0.1"
    return host


socket.gethostbyname = lambda host: _gethostbyname(_loopback(host))
socket.getaddrinfo = lambda host, *a, **k: _getaddrinfo(_loopback(host), *a, **k)

from autobahntestsuite.wstest import run  # noqa: E402

if __name__ == "__main__":
    sys.argv[0] = re.sub(r"(-script\.pyw?|\.exe)?$", "", sys.argv[0])
    sys.exit(run())
