#!/usr/bin/env bash
# URL import benchmark: the gateway imports a 1 GiB file from a local HTTP server
# (python3 -m http.server on 127.0.0.1, opened with MP3C_IMPORT__ALLOW_CIDRS), streaming it into
# fs storage. Reports the throughput (202 answered → job queued) and the gateway's RSS before
# and at its peak, which should not grow with the file. Results go to docs/benchmarks.md
# ("URL import").
#
#   bash bench/import.sh      # SIZE_MIB=1024 ROUNDS=3 by default
#
# The file is an MP4 fixture's head followed by zeros: it passes the sniffing, and no converter
# runs (roles auth,gateway), so only the download is measured. Data under bench/out/import/
# (git-ignored).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/bench/out/import"
size_mib="${SIZE_MIB:-1024}"
rounds="${ROUNDS:-3}"
rm -rf "$out" && mkdir -p "$out/www"

(cd "$root" && cargo build --release -p mp3converter --quiet)
bin="${CARGO_TARGET_DIR:-$root/target}/release/mp3converter"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
rss_mib() { awk -v k="$2" '$1 == k":" {print int($2/1024)}' "/proc/$1/status"; }

# The file: a real MP4's first 30 KiB, then zeros up to SIZE_MIB.
python3 - "$root/tests/fixtures/media/mp4-aac-faststart.mp4" "$out/www/big.mp4" "$size_mib" <<'PY'
import sys
head = open(sys.argv[1], "rb").read()
with open(sys.argv[2], "wb") as f:
    f.write(head)
    f.truncate(int(sys.argv[3]) * 1024 * 1024)
PY

origin_port="$(free_port)"
(cd "$out/www" && exec python3 -m http.server --bind 127.0.0.1 "$origin_port") >"$out/origin.log" 2>&1 &
origin=$!
port="$(free_port)"
MP3C_DATA_DIR="$out/data" MP3C_SERVER__LISTEN="127.0.0.1:$port" MP3C_SERVER__ROLES=auth,gateway \
  MP3C_ADMIN_EMAIL=bench@example.com MP3C_ADMIN_PASSWORD=bench-password-1 \
  MP3C_IMPORT__ALLOW_CIDRS=127.0.0.0/8 MP3C_GATEWAY__MAX_UPLOAD_BYTES=$((4 * 1024 * 1024 * 1024)) \
  RUST_LOG=warn "$bin" serve >"$out/server.log" 2>&1 &
server=$!
trap 'kill "$server" "$origin" 2>/dev/null || true' EXIT
wait_port "$origin_port"
wait_port "$port"
base="http://127.0.0.1:$port"
token="$(curl -sf -X POST -u bench@example.com:bench-password-1 "$base/login")"

echo "round	seconds	MiB/s	rss_before_mib	peak_rss_mib" | tee "$out/runs.tsv"
for round in $(seq 1 "$rounds"); do
  before="$(rss_mib "$server" VmRSS)"
  start="$(date +%s.%N)"
  id="$(curl -sf -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d "{\"url\": \"http://127.0.0.1:$origin_port/big.mp4\"}" "$base/api/v1/jobs" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
  while :; do
    state="$(curl -sf -H "Authorization: Bearer $token" "$base/api/v1/jobs/$id" |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')"
    [ "$state" != downloading ] && break
    sleep 0.1
  done
  end="$(date +%s.%N)"
  [ "$state" = queued ] || { echo "import ended $state" >&2; exit 1; }
  secs="$(python3 -c "print(round($end - $start, 2))")"
  rate="$(python3 -c "print(round($size_mib / ($end - $start)))")"
  echo "$round	$secs	$rate	$before	$(rss_mib "$server" VmHWM)" | tee -a "$out/runs.tsv"
  curl -sf -X DELETE -H "Authorization: Bearer $token" "$base/api/v1/jobs/$id" >/dev/null
done
