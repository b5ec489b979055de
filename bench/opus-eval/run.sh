#!/usr/bin/env bash
# Evaluates pure-Rust Opus decoders against libopus (docs/adr/0002-opus-decoding.md).
#
#   bash bench/opus-eval/run.sh
#
# 1. makes ~10 s Ogg-Opus files with ffmpeg's libopus encoder (48 kHz stereo,
#    music-like signal) at 32/64/128 kbps, plus 12 and 16 kbps VoIP files (all
#    SILK, all hybrid: the music files are CELT) and one 120 s 128 kbps file for decode speed;
# 2. decodes each with libopus through ffmpeg to raw f32le (the reference) and,
#    for comparison, with ffmpeg's own Opus decoder;
# 3. runs the standalone `opus-eval` program (not part of the workspace), which
#    decodes the same packets with every candidate and prints SNR vs libopus
#    and decode time.
# 4. feeds every candidate damaged packets and counts errors and panics.
# Everything is written to bench/out/opus/ (git-ignored). Idempotent.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$here/../out/opus"
mkdir -p "$out"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$here/../out/opus-eval-target}"

# Music-like stereo signal: a plucked melody (three harmonics, decaying notes
# every 250 ms over a pentatonic pattern) and a bass line, different per
# channel, plus pink noise at about -36 dB. Deterministic (fixed seed).
signal() { # duration
  local d=$1
  local note='pow(2\,(floor(mod(t*4\,5))*2+floor(mod(t/2\,3))*5)/12)'
  local env='exp(-6*mod(t\,0.25))'
  ffmpeg -nostdin -hide_banner -loglevel error -y \
    -f lavfi -i "aevalsrc=exprs='0.30*${env}*(sin(2*PI*330*${note}*t)+0.5*sin(4*PI*330*${note}*t)+0.25*sin(6*PI*330*${note}*t))+0.20*sin(2*PI*55*pow(2\,floor(mod(t/2\,4))*7/12)*t)|0.25*${env}*(sin(2*PI*440*${note}*t+1)+0.4*sin(4*PI*440*${note}*t))+0.20*sin(2*PI*82.5*pow(2\,floor(mod(t/2\,4))*7/12)*t)':s=48000:d=$d" \
    -f lavfi -i "anoisesrc=color=pink:amplitude=0.016:seed=42:r=48000:d=$d" \
    -filter_complex "[1:a]aformat=channel_layouts=stereo[n];[0:a][n]amix=inputs=2:normalize=0[a]" \
    -map '[a]' "$2"
}

[ -f "$out/src10.wav" ] || signal 10 "$out/src10.wav"
[ -f "$out/src120.wav" ] || signal 120 "$out/src120.wav"

enc() { # src out args...
  local src=$1 dst=$2; shift 2
  [ -f "$dst" ] || ffmpeg -nostdin -hide_banner -loglevel error -y -i "$src" -c:a libopus "$@" "$dst"
}
enc "$out/src10.wav" "$out/music-32k.opus" -b:a 32k
enc "$out/src10.wav" "$out/music-64k.opus" -b:a 64k
enc "$out/src10.wav" "$out/music-128k.opus" -b:a 128k
enc "$out/src10.wav" "$out/voip-12k.opus" -b:a 12k -application voip  # SILK only
enc "$out/src10.wav" "$out/voip-16k.opus" -b:a 16k -application voip  # hybrid only
enc "$out/src120.wav" "$out/music-128k-120s.opus" -b:a 128k

# References. ffmpeg's libopus wrapper outputs s16 unless asked for float.
ref() { # opus decoder out
  ffmpeg -nostdin -hide_banner -loglevel error -y -c:a "$2" -request_sample_fmt flt -i "$1" -f f32le -ac 2 "$3"
}
for f in "$out"/*.opus; do
  b="${f%.opus}"
  ref "$f" libopus "$b.libopus.f32"
  ref "$f" opus "$b.ffopus.f32"
done

(cd "$here" && nice -n 10 cargo build --release --quiet)
eval_bin="$CARGO_TARGET_DIR/release/opus-eval"

{
  printf 'file\tdecoder\tsnr_db\tmax_abs_err\tframes\tbest_lag\tdecode_ms\tx_realtime\n'
  for f in "$out"/*.opus; do
    b="${f%.opus}"
    "$eval_bin" "$f" "$b.libopus.f32" --reps 3 --extra "ffmpeg native opus=$b.ffopus.f32"
  done
} | tee "$out/results.tsv"

# Decode speed of libopus and ffmpeg's decoder via ffmpeg on the 120 s file:
# median of 5 runs of ffmpeg's own `-benchmark` timing (excludes process start).
echo
echo "ffmpeg decode of music-128k-120s.opus to f32le (median of 5, -benchmark rtime):"
for dec in libopus opus; do
  for _ in 1 2 3 4 5; do
    ffmpeg -nostdin -hide_banner -benchmark -c:a "$dec" -request_sample_fmt flt \
      -i "$out/music-128k-120s.opus" -f f32le -ac 2 -y /dev/null 2>&1 |
      sed -n 's/.*rtime=\([0-9.]*\)s.*/\1/p'
  done | sort -n | sed -n 3p | awk -v d="$dec" '{ printf "  %-8s %.1f ms  (%.0fx realtime)\n", d, $1 * 1000, 120 / $1 }'
done | tee "$out/ffmpeg-speed.txt"

# Damaged packets (a third of them flipped/truncated/random; fixed seed): no
# candidate may panic; malformed packets should come back as errors.
echo
for f in music-64k voip-12k voip-16k; do
  "$eval_bin" --fuzz "$out/$f.opus" 4
done | tee "$out/fuzz.tsv"
