#!/usr/bin/env bash
# Service benchmarks (the budgets in docs/benchmarks.md): upload and download throughput with the server's peak RSS,
# authenticated GET /api/v1/jobs/{id} req/s, a 10-second clip from upload accepted to email
# written, and a 10-minute clip's service overhead over the bare engine.
#
#   bash bench/service.sh        # needs curl, wrk (apt), ffmpeg; MP3CONVERTER=binary to skip the build
#
# Everything runs on 127.0.0.1 against `mp3converter serve` on embedded backends in a temp dir.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/bench/out/service"
mkdir -p "$out"
bin="${MP3CONVERTER:-}"
if [ -z "$bin" ]; then
  (cd "$root" && cargo build --release -p mp3converter --quiet)
  bin="${CARGO_TARGET_DIR:-$root/target}/release/mp3converter"
fi
port=18090
pass="bench-password-1"

start() { # roles, data dir
  MP3C_ADMIN_EMAIL=bench@example.com MP3C_ADMIN_PASSWORD=$pass MP3C_LOG=warn \
    MP3C_GATEWAY__MAX_UPLOAD_BYTES=4294967296 MP3C_GATEWAY__REQUEST_TIMEOUT_SECS=300 \
    MP3C_AUTH__LOGIN_LIMIT_PER_IP=100000 \
    "$bin" serve --listen 127.0.0.1:$port --data-dir "$2" --roles "$1" >"$2.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && return; sleep 0.1; done
  echo "server did not start" >&2; cat "$2.log" >&2; exit 1
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; }
token() { curl -sf -X POST "http://127.0.0.1:$port/login" -u "bench@example.com:$pass"; }
hwm_mib() { awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$pid/status"; }

# --- inputs -------------------------------------------------------------------------------
big="$out/big-1g.wav"
if [ ! -f "$big" ]; then
  # A 1 GiB WAV: a real header, then silence.
  python3 - "$big" <<'PY'
import struct, sys
size = (1 << 30) - 44
with open(sys.argv[1], "wb") as f:
    f.write(b"RIFF" + struct.pack("<I", size + 36) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 2, 44100, 176400, 4, 16))
    f.write(b"data" + struct.pack("<I", size))
    f.truncate(size + 44)
PY
fi
clip="$out/clip-10s.mp4"
[ -f "$clip" ] || ffmpeg -nostdin -v error -f lavfi -i "sine=f=440:d=10" -f lavfi -i "testsrc2=s=160x90:r=10:d=10" \
  -c:v libx264 -preset ultrafast -c:a aac -ac 2 -shortest "$clip"
long="$root/bench/out/engine/in-600.mp4"
[ -f "$long" ] || ffmpeg -nostdin -v error -f lavfi -i "sine=f=440:d=600" -f lavfi -i "anoisesrc=d=600:a=0.03:seed=42" \
  -filter_complex "[0][1]amix=inputs=2,aformat=channel_layouts=stereo:sample_rates=44100" -c:a aac -b:a 128k "$long"
bigmp3="$out/big.mp3"
[ -f "$bigmp3" ] || ffmpeg -nostdin -v error -stream_loop 14 -i "$long" -vn -c:a libmp3lame -b:a 320k -t 3600 "$bigmp3"

echo "### Run of $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
echo "* machine: $(nproc) cores; load before: $(cut -d' ' -f1-3 /proc/loadavg); mp3converter at \`$(git -C "$root" rev-parse --short HEAD)\`"
echo

# --- upload and download (gateway + auth only: nothing converts) ---------------------------
data="$(mktemp -d)"; start auth,gateway "$data"; t=$(token)
base_rss=$(hwm_mib)
up=$(curl -s -o /dev/null -w '%{time_total} %{speed_upload} %{http_code}' -H "Authorization: Bearer $t" \
  -F "file=@$big" "http://127.0.0.1:$port/api/v1/jobs")
up_rss=$(hwm_mib)
stop; rm -rf "$data" "$data.log"

data="$(mktemp -d)"; start all "$data"; t=$(token)
id=$(curl -sf -D - -o /dev/null -H "Authorization: Bearer $t" -F "file=@$bigmp3" "http://127.0.0.1:$port/upload" \
  | awk 'tolower($1)=="x-job-id:" {print $2}' | tr -d '\r')
for _ in $(seq 1 600); do
  state=$(curl -sf -H "Authorization: Bearer $t" "http://127.0.0.1:$port/api/v1/jobs/$id" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')
  [ "$state" = done ] && break; sleep 0.2
done
down=$(curl -s -o /dev/null -w '%{time_total} %{speed_download} %{size_download}' -H "Authorization: Bearer $t" \
  "http://127.0.0.1:$port/api/v1/jobs/$id/audio")
rps=$(wrk -t2 -c32 -d10s -H "Authorization: Bearer $t" "http://127.0.0.1:$port/api/v1/jobs/$id" | awk '/Requests\/sec/ {print $2}')

# 10-second clip: upload accepted → email written.
before=$(ls "$data/outbox" | wc -l)
t0=$(date +%s.%N)
curl -sf -o /dev/null -H "Authorization: Bearer $t" -F "file=@$clip" "http://127.0.0.1:$port/upload"
t1=$(date +%s.%N)
while [ "$(ls "$data/outbox" | wc -l)" -le "$before" ]; do sleep 0.005; done
t2=$(date +%s.%N)

# 10-minute clip: service time (upload accepted → email) vs the bare engine on the same file.
before=$(ls "$data/outbox" | wc -l)
curl -sf -o /dev/null -H "Authorization: Bearer $t" -F "file=@$long" "http://127.0.0.1:$port/upload"
l1=$(date +%s.%N)
while [ "$(ls "$data/outbox" | wc -l)" -le "$before" ]; do sleep 0.01; done
l2=$(date +%s.%N)
stop; rm -rf "$data" "$data.log"
e0=$(date +%s.%N); "$bin" convert "$long" -o "$out/bare.mp3" --threads 1 -y 2>/dev/null; e1=$(date +%s.%N)

python3 - "$up" "$base_rss" "$up_rss" "$down" "$rps" "$t1" "$t2" "$l1" "$l2" "$e0" "$e1" <<'PY'
import sys
up, base_rss, up_rss, down, rps, t1, t2, l1, l2, e0, e1 = sys.argv[1:]
ut, us, code = up.split(); dt, ds, dsize = down.split()
clip = float(t2) - float(t1); svc = float(l2) - float(l1); bare = float(e1) - float(e0)
print("| what | measured | budget |")
print("|---|---:|---|")
print(f"| upload of a 1 GiB file to fs storage (HTTP {code}) | {float(us)/1e6:.0f} MB/s ({float(ut):.1f} s) | ≥ 300 MB/s |")
print(f"| gateway peak RSS: idle → after the 1 GiB upload | {base_rss} → {up_rss} MiB | flat |")
print(f"| download of a {int(dsize)/1e6:.0f} MB MP3 from fs storage | {float(ds)/1e6:.0f} MB/s | ≥ 1 GB/s |")
print(f"| authenticated GET /api/v1/jobs/{{id}} (wrk, 2 threads, 32 connections, 10 s) | {float(rps):.0f} req/s | ≥ 10k req/s |")
print(f"| 10-second clip: upload accepted → email written | {clip:.2f} s | ≤ 1 s |")
print(f"| 10-minute clip: upload accepted → email written, vs bare engine (--threads 1) | {svc:.2f} s vs {bare:.2f} s (+{(svc/bare-1)*100:.0f} %) | — |")
PY
