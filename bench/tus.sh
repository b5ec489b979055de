#!/usr/bin/env bash
# Resumable upload (tus) benchmark: a SIZE_MIB file (2 GiB by default) goes up through
# /api/v1/uploads in one PATCH with curl, into fs storage. Reports the throughput (creation to
# the final PATCH's answer, which includes streaming the segments into the job's video blob)
# and the gateway's RSS before and at its peak. Then the same file again in two halves with the
# gateway killed (SIGKILL) in between and started again: HEAD must report the first half, and
# the rest completes the upload. Results go to docs/benchmarks.md ("Resumable uploads").
#
#   bash bench/tus.sh      # SIZE_MIB=2048 ROUNDS=3 by default
#
# The file is an MP4 fixture's head followed by zeros: it passes the sniffing, and no converter
# runs (roles auth,gateway), so only the upload is measured. Data under bench/out/tus/
# (git-ignored).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/bench/out/tus"
size_mib="${SIZE_MIB:-2048}"
rounds="${ROUNDS:-3}"
rm -rf "$out" && mkdir -p "$out"

# BIN=path/to/mp3converter uses that binary instead of building the release one.
if [ -z "${BIN:-}" ]; then
  (cd "$root" && cargo build --release -p mp3converter --quiet)
fi
bin="${BIN:-${CARGO_TARGET_DIR:-$root/target}/release/mp3converter}"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
rss_mib() { awk -v k="$2" '$1 == k":" {print int($2/1024)}' "/proc/$1/status"; }

file="$out/big.mp4"
python3 - "$root/tests/fixtures/media/mp4-aac-faststart.mp4" "$file" "$size_mib" <<'PY'
import sys
head = open(sys.argv[1], "rb").read()
with open(sys.argv[2], "wb") as f:
    f.write(head)
    f.truncate(int(sys.argv[3]) * 1024 * 1024)
PY
size="$(stat -c %s "$file")"

port="$(free_port)"
start_server() {
  MP3C_DATA_DIR="$out/data" MP3C_SERVER__LISTEN="127.0.0.1:$port" MP3C_SERVER__ROLES=auth,gateway \
    MP3C_ADMIN_EMAIL=bench@example.com MP3C_ADMIN_PASSWORD=bench-password-1 \
    MP3C_GATEWAY__MAX_UPLOAD_BYTES=$((4 * 1024 * 1024 * 1024)) \
    RUST_LOG=warn "$bin" serve >>"$out/server.log" 2>&1 &
  server=$!
  wait_port "$port"
}
start_server
trap 'kill "$server" 2>/dev/null || true' EXIT
base="http://127.0.0.1:$port"
token="$(curl -sf -X POST -u bench@example.com:bench-password-1 "$base/login")"
tus=(-H "Authorization: Bearer $token" -H "Tus-Resumable: 1.0.0")

create() {
  curl -sf -D - -o /dev/null "${tus[@]}" -X POST -H "Upload-Length: $size" \
    -H "Upload-Metadata: filename YmlnLm1wNA==" "$base/api/v1/uploads" |
    awk 'tolower($1) == "location:" {print $2}' | tr -d '\r'
}
# patch URL OFFSET: sends the file from OFFSET to its end, streamed (-T reads as it sends).
patch() {
  tail -c "+$(($2 + 1))" "$file" | curl -sf -D - -o /dev/null "${tus[@]}" -X PATCH \
    -H 'Content-Type: application/offset+octet-stream' -H "Upload-Offset: $2" -T - "$base$1"
}

echo "round	seconds	MiB/s	rss_before_mib	peak_rss_mib" | tee "$out/runs.tsv"
for round in $(seq 1 "$rounds"); do
  before="$(rss_mib "$server" VmRSS)"
  start="$(date +%s.%N)"
  url="$(create)"
  patch "$url" 0 | grep -qi '^x-job-id:'
  end="$(date +%s.%N)"
  peak="$(rss_mib "$server" VmHWM)"
  python3 -c "import sys; s=$end-$start; print(f'$round\t{s:.2f}\t{$size/1048576/s:.0f}\t$before\t$peak')" |
    tee -a "$out/runs.tsv"
done

# Resume after a kill: the first half, SIGKILL, a new process, HEAD, the rest.
half=$((size / 2))
url="$(create)"
head -c "$half" "$file" | curl -sf -o /dev/null "${tus[@]}" -X PATCH \
  -H 'Content-Type: application/offset+octet-stream' -H "Upload-Offset: 0" -T - "$base$url"
kill -9 "$server"
wait "$server" 2>/dev/null || true
start_server
offset="$(curl -sf -I "${tus[@]}" "$base$url" | awk 'tolower($1) == "upload-offset:" {print $2}' | tr -d '\r')"
start="$(date +%s.%N)"
job="$(patch "$url" "$offset" | awk 'tolower($1) == "x-job-id:" {print $2}' | tr -d '\r')"
end="$(date +%s.%N)"
test -n "$job"
sha_local="$(sha256sum "$file" | cut -d' ' -f1)"
echo "resume after SIGKILL: HEAD offset $offset of $size (sent before the kill: $half); rest + completion $(python3 -c "print(f'{$end-$start:.2f}')") s; job $job"
stored="$out/data/blobs/video/$job"
if [ -f "$stored" ]; then
  test "$(sha256sum "$stored" | cut -d' ' -f1)" = "$sha_local" && echo "stored video identical to the file (sha256)"
fi
