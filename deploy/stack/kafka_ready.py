#!/usr/bin/env python3
"""Readiness probe for a Kafka broker, standard library only.

Sends one ApiVersions request, then one Metadata request (for no topics) and
exits 0 only when the broker lists at least one live broker and a controller
id. A TCP connect alone succeeds too early: a starting KRaft broker accepts
connections before it has joined the cluster.

    python3 kafka_ready.py [--host 127.0.0.1] [--port 9092] [--timeout 3]

Exit codes: 0 ready, 1 not ready (reason on stderr).
"""

from __future__ import annotations

import argparse
import socket
import struct
import sys

API_METADATA = 3
API_VERSIONS = 18
CLIENT_ID = b"teampulse-stack-probe"


def _request(sock: socket.socket, api_key: int, version: int, corr: int, body: bytes) -> bytes:
    # Request header v1: api_key, api_version, correlation_id, client_id (nullable string).
    header = struct.pack(">hhih", api_key, version, corr, len(CLIENT_ID)) + CLIENT_ID
    payload = header + body
    sock.sendall(struct.pack(">i", len(payload)) + payload)
    size = struct.unpack(">i", _recv_exact(sock, 4))[0]
    data = _recv_exact(sock, size)
    (got_corr,) = struct.unpack(">i", data[:4])
    if got_corr != corr:
        raise RuntimeError(f"correlation id mismatch ({got_corr} != {corr})")
    return data[4:]  # response header v0 is just the correlation id


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by broker")
        buf += chunk
    return bytes(buf)


def _metadata_version(sock: socket.socket) -> int:
    """Pick a non-flexible Metadata version (<= 8) the broker supports."""
    body = _request(sock, API_VERSIONS, 0, 1, b"")
    error, count = struct.unpack(">hi", body[:6])
    if error != 0:
        raise RuntimeError(f"ApiVersions error code {error}")
    off = 6
    for _ in range(count):
        key, lo, hi = struct.unpack(">hhh", body[off : off + 6])
        off += 6
        if key == API_METADATA:
            for v in (4, 5, 6, 7, 8, 1):
                if lo <= v <= hi:
                    return v
            raise RuntimeError(f"no usable Metadata version in broker range {lo}..{hi}")
    raise RuntimeError("broker does not list the Metadata API")


def probe(host: str, port: int, timeout: float) -> tuple[bool, str]:
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        version = _metadata_version(sock)
        body = struct.pack(">i", 0)  # topics: empty array -> brokers and controller only
        if version >= 4:
            body += b"\x00"  # allow_auto_topic_creation = false
        if version >= 8:
            body += b"\x00\x00"  # include cluster/topic authorized operations = false
        resp = _request(sock, API_METADATA, version, 2, body)
    off = 0
    if version >= 3:
        off += 4  # throttle_time_ms
    (n_brokers,) = struct.unpack(">i", resp[off : off + 4])
    off += 4
    brokers = []
    for _ in range(n_brokers):
        node_id, hlen = struct.unpack(">ih", resp[off : off + 6])
        off += 6
        bhost = resp[off : off + hlen].decode()
        off += hlen
        (bport,) = struct.unpack(">i", resp[off : off + 4])
        off += 4
        (rlen,) = struct.unpack(">h", resp[off : off + 2])
        off += 2 + max(rlen, 0)
        brokers.append(f"{node_id}@{bhost}:{bport}")
    if version >= 2:
        (clen,) = struct.unpack(">h", resp[off : off + 2])
        off += 2 + max(clen, 0)
    (controller,) = struct.unpack(">i", resp[off : off + 4])
    if not brokers:
        return False, "broker answers but lists no live brokers yet"
    if controller < 0:
        return False, "broker answers but has no controller yet"
    return True, f"brokers={','.join(brokers)} controller={controller}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9092)
    ap.add_argument("--timeout", type=float, default=3.0)
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    try:
        ok, detail = probe(args.host, args.port, args.timeout)
    except (OSError, RuntimeError, struct.error, UnicodeDecodeError) as exc:
        ok, detail = False, f"{type(exc).__name__}: {exc}"
    if not ok or args.verbose:
        print(detail, file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
