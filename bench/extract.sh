#!/usr/bin/env bash
# Audio extraction in the browser (issue 17's figures): a 10-minute 720p H.264/AAC MP4 and a
# 10-minute 720p VP9/Opus WebM are chosen in the web UI, in Debian's Chromium with the upload
# throttled to 20 Mbit/s (CDP), with "Send only the audio track" on and off. Reports the bytes
# sent ÷ the file's size and the time from choosing the file to the MP3 being ready. Results go
# to docs/benchmarks.md ("Audio extraction on the client").
#
#   bash bench/extract.sh          # MBIT=20 MINUTES=10; BIN= skips the release build
#
# The inputs are made once with ffmpeg (noise over a test pattern, so the video needs its
# bitrate: ~2.5 Mbit/s H.264, ~2 Mbit/s VP9; pink noise and tones as the sound, 128 kbps) and
# kept under bench/out/extract/ (git-ignored). Needs `npm ci` in tests/browser.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/bench/out/extract"
minutes="${MINUTES:-10}"
mkdir -p "$out"
secs=$((minutes * 60))

if [ -z "${BIN:-}" ]; then
  (cd "$root" && cargo build --release -p mp3converter --quiet)
fi
bin="${BIN:-${CARGO_TARGET_DIR:-$root/target}/release/mp3converter}"

picture="testsrc2=size=1280x720:rate=30,noise=alls=14:allf=t+u"
sound="anoisesrc=c=pink:a=0.08:d=$secs,aformat=channel_layouts=stereo"
tone="sine=f=220:d=$secs,volume=0.3,aformat=channel_layouts=stereo"
mp4="$out/talk-720p.mp4"
webm="$out/talk-720p.webm"
if [ ! -s "$mp4" ]; then
  ffmpeg -v error -y -f lavfi -i "$picture" -f lavfi -i "$sound" -f lavfi -i "$tone" -t "$secs" \
    -filter_complex '[1:a][2:a]amix=inputs=2[a]' -map 0:v -map '[a]' \
    -c:v libx264 -preset ultrafast -b:v 2500k -maxrate 2500k -bufsize 5000k -pix_fmt yuv420p \
    -c:a aac -b:a 128k -movflags +faststart "$mp4"
fi
if [ ! -s "$webm" ]; then
  ffmpeg -v error -y -f lavfi -i "$picture" -f lavfi -i "$sound" -f lavfi -i "$tone" -t "$secs" \
    -filter_complex '[1:a][2:a]amix=inputs=2[a]' -map 0:v -map '[a]' \
    -c:v libvpx-vp9 -deadline realtime -cpu-used 8 -row-mt 1 -b:v 2000k -pix_fmt yuv420p \
    -c:a libopus -b:a 128k "$webm"
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
port="$(free_port)"
rm -rf "$out/data"
MP3C_DATA_DIR="$out/data" MP3C_SERVER__LISTEN="127.0.0.1:$port" \
  MP3C_ADMIN_EMAIL=bench@example.com MP3C_ADMIN_PASSWORD=bench-password-1 \
  MP3C_GATEWAY__MAX_UPLOAD_BYTES=$((4 * 1024 * 1024 * 1024)) \
  RUST_LOG=warn "$bin" serve >"$out/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
wait_port "$port"

MP3C_URL="http://127.0.0.1:$port" MP3C_EMAIL=bench@example.com MP3C_PASSWORD=bench-password-1 \
  MBIT="${MBIT:-20}" node "$root/bench/extract.mjs" "$mp4" "$webm" | tee "$out/runs.tsv"
python3 - "$out/runs.tsv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
by = {(r["file"], r["mode"]): r for r in rows}
for name in dict.fromkeys(r["file"] for r in rows):
    e, w = by[(name, "extracted")], by[(name, "whole")]
    print(f"{name}: sent {int(e['sent_bytes'])/int(e['file_bytes']):.1%} of {int(e['file_bytes'])/1e6:.0f} MB; "
          f"{float(e['seconds']):.1f} s vs {float(w['seconds']):.1f} s whole "
          f"({float(w['seconds'])/float(e['seconds']):.1f}x faster)")
PY
