#!/usr/bin/env python3
"""Exactly N keep-alive `GET PATH` requests over C connections, one in flight per connection;
prints `[200] K responses` (oha's line, which tools/callgrind.sh checks). The fallback load of
tools/callgrind.sh where oha is not installed; callgrind counts the gateway's instructions, so
the client's own speed does not change the figure.

    python3 tools/keepalive_get.py 127.0.0.1:8080 20000 8 bench.execute-api.localhost /small
"""
import selectors
import socket
import sys


def main() -> None:
    addr, n, c, host, path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
    h, p = addr.rsplit(":", 1)
    req = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: keepalive_get\r\nAccept: */*\r\n\r\n".encode()
    sel = selectors.DefaultSelector()
    sent = done = ok = 0
    for _ in range(min(c, n)):
        s = socket.create_connection((h, int(p)))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(req)
        sent += 1
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, bytearray())
    while done < n:
        for key, _ in sel.select():
            s, buf = key.fileobj, key.data
            data = s.recv(65536)
            if not data:
                sys.exit(f"connection closed after {done} responses")
            buf += data
            while (end := buf.find(b"\r\n\r\n")) >= 0:
                head = bytes(buf[:end]).decode("latin-1").split("\r\n")
                length = 0
                for line in head[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                if len(buf) < end + 4 + length:
                    break
                del buf[: end + 4 + length]
                done += 1
                ok += head[0].split(" ", 2)[1] == "200"
                if sent < n:
                    s.setblocking(True)
                    s.sendall(req)
                    s.setblocking(False)
                    sent += 1
    print(f"[200] {ok} responses")
    if ok != n:
        print(f"other statuses: {n - ok}")


if __name__ == "__main__":
    main()
