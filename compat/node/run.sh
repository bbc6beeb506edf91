#!/usr/bin/env bash
# Runs the Node.js compatibility suite: starts `chronicle serve` on a free
# loopback port over a fresh SQLite store, runs the official client's
# checks against its KurrentDB protocol, and stops the server.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
tmp="$(mktemp -d)"
server_pid=""
cleanup() {
	if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
	rm -rf "$tmp"
}
trap cleanup EXIT

cd "$here"
if [ ! -d node_modules/@kurrent/kurrentdb-client ]; then
	npm ci --no-audit --no-fund
fi

(cd "$root" && go build -o "$tmp/chronicle" ./cmd/chronicle)
"$tmp/chronicle" serve --store "sqlite:$tmp/events.db" --listen 127.0.0.1:0 >"$tmp/server.log" 2>&1 &
server_pid=$!
addr=""
for _ in $(seq 100); do
	addr="$(sed -n 's|^Chronicle is serving at http://\([^/]*\)/.*|\1|p' "$tmp/server.log")"
	[ -n "$addr" ] && break
	kill -0 "$server_pid" 2>/dev/null || { cat "$tmp/server.log"; exit 1; }
	sleep 0.1
done
[ -n "$addr" ] || { echo "server did not start"; cat "$tmp/server.log"; exit 1; }
echo "server at $addr"

CHRONICLE_GRPC_ADDR="$addr" npm test
