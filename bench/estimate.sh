#!/usr/bin/env bash
# Estimate accuracy: `mp3converter convert --dry-run` (the predicted size and time, its speed
# calibrated on this machine) against the real conversion, for speech-, music- and noise-like
# inputs at common settings in each format. Prints a Markdown table and whether the targets
# hold: size within ±10 % for constant-bitrate MP3 and WAV (the sizes not flagged approximate),
# time within ±30 %.
#
#   bash bench/estimate.sh           # SECS=120 by default
#
# Inputs (generated once into bench/out/estimate/, git-ignored): SECS seconds of a small H.264
# picture with AAC-LC 128 kbps stereo 44.1 kHz sound, the three kinds of bench/formats.sh.
# Each case: one dry run, then one real conversion timed with the wall clock (the dry run
# predicts wall time). Conversions run with the CLI's default `--threads auto`.
#
# Environment: SECS, MP3CONVERTER (binary; default: built here with
# `cargo build --release -p mp3converter --bin mp3converter` into $CARGO_TARGET_DIR or target/).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/bench/out/estimate"
secs="${SECS:-120}"
mkdir -p "$out/o"

if [ -z "${MP3CONVERTER:-}" ]; then
  (cd "$root" && nice -n 10 cargo build --release -p mp3converter --bin mp3converter --quiet)
  MP3CONVERTER="${CARGO_TARGET_DIR:-$root/target}/release/mp3converter"
fi
ours="$MP3CONVERTER"

make_input() { # name lavfi-graph
  local dst="$out/$1-$secs.mp4"
  [ -f "$dst" ] && return
  ffmpeg -nostdin -hide_banner -loglevel error -y \
    -f lavfi -i "testsrc2=s=160x90:r=10:d=$secs" -f lavfi -i "$2" -t "$secs" \
    -map 0:v -map 1:a -c:v libx264 -preset ultrafast -pix_fmt yuv420p \
    -c:a aac -profile:a aac_low -b:a 128k -ar 44100 -ac 2 "$dst.part.mp4"
  mv "$dst.part.mp4" "$dst"
}
make_input speech "anoisesrc=color=pink:amplitude=0.3:seed=7:r=44100,bandpass=f=1000:width_type=h:w=2500,tremolo=f=4:d=0.9,volume='if(lt(mod(t,3),2.2),1,0.02)':eval=frame"
make_input music "aevalsrc='(0.25*sin(2*PI*220*t)+0.2*sin(2*PI*277.2*t)+0.2*sin(2*PI*329.6*t)+0.15*sin(2*PI*110*t))*(0.6+0.4*sin(2*PI*0.25*t))+0.6*exp(-30*mod(t,0.5))*sin(2*PI*60*t)':s=44100"
make_input noise "anoisesrc=color=white:amplitude=0.7:seed=3:r=44100"

# label|extension|flags
settings=(
  "mp3 192 kbps|mp3|"
  "mp3 128 kbps mono|mp3|--bitrate 128 --mono"
  "mp3 192 kbps, 1 thread|mp3|--threads 1"
  "mp3 VBR 2|mp3|--vbr 2"
  "mp3 + loudness −16|mp3|--loudness -16"
  "opus 64 kbps|opus|--bitrate 64"
  "opus 128 kbps|opus|"
  "preset speech (opus 32 mono −16)|opus|--preset speech"
  "flac|flac|"
  "wav|wav|"
  "m4a 192 kbps|m4a|"
)

echo "### Results: run of $(date -u '+%Y-%m-%d %H:%M') UTC, ${secs} s inputs"
echo
echo "* machine: $(nproc) cores; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "* mp3converter at \`$(git -C "$root" rev-parse --short HEAD)\`"
echo
echo "| input | settings | route | predicted MB | real MB | size error | approx. | predicted s | real s | time error |"
echo "|---|---|---|---:|---:|---:|---|---:|---:|---:|"
for kind in speech music noise; do
  in="$out/$kind-$secs.mp4"
  for s in "${settings[@]}"; do
    IFS='|' read -r label ext flags <<<"$s"
    o="$out/o/$kind.$ext"
    # shellcheck disable=SC2086
    json="$("$ours" convert "$in" -o "$o" $flags --dry-run)"
    start=$(date +%s.%N)
    # shellcheck disable=SC2086
    "$ours" convert "$in" -o "$o" $flags -y 2>/dev/null
    end=$(date +%s.%N)
    real_bytes=$(stat -c %s "$o")
    read -r route pbytes approx psecs < <(jq -r '"\(.route) \(.bytes) \(.bytes_approximate) \(.seconds)"' <<<"$json")
    python3 - "$kind" "$label" "$route" "$pbytes" "$real_bytes" "$approx" "$psecs" "$start" "$end" <<'PY'
import sys
kind, label, route, pb, rb, approx, ps, start, end = sys.argv[1:]
pb, rb, ps = int(pb), int(rb), float(ps)
rs = float(end) - float(start)
se = (pb - rb) / rb * 100
te = (ps - rs) / rs * 100
print(f"| {kind} | {label} | {route} | {pb/1e6:.2f} | {rb/1e6:.2f} | {se:+.1f} % | {'yes' if approx == 'true' else 'no'} | {ps:.2f} | {rs:.2f} | {te:+.0f} % |")
PY
  done
done
