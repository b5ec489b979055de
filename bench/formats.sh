#!/usr/bin/env bash
# Output formats benchmark: CPU of one conversion per format, mp3converter (one thread) against
# the ffmpeg command line with the same settings, on speech-, music- and noise-like inputs (the
# budget in docs/benchmarks.md: ≤ 1.0× for every native encoder). Also the cost of loudness
# normalisation (two passes) on the MP3 conversion.
#
#   bash bench/formats.sh            # ROUNDS=3, SECS=300 by default
#
# Inputs (generated once into bench/out/formats/, git-ignored): SECS seconds of a small H.264
# picture with AAC-LC 128 kbps stereo 44.1 kHz sound of three kinds —
#   speech: pink noise band-passed to the voice range, in 4 Hz syllables with pauses;
#   music:  a chord with a slow swell, a bass line and a kick every half second;
#   noise:  white noise at −3 dBFS peaks (the hardest case for every encoder).
# Every case runs ROUNDS times, interleaved, under `/usr/bin/time`; CPU = user + sys (the
# children too); the table shows medians.
#
# Environment: ROUNDS, SECS, MP3CONVERTER (binary; default: built here with
# `cargo build --release -p mp3converter` into $CARGO_TARGET_DIR or target/), FORMATS (a
# space-separated subset of mp3 opus flac wav m4a, e.g. FORMATS=flac; default all; the loudness
# cases run with mp3).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/bench/out/formats"
rounds="${ROUNDS:-3}"
secs="${SECS:-300}"
mkdir -p "$out/o"

if [ -z "${MP3CONVERTER:-}" ]; then
  (cd "$root" && nice -n 10 cargo build --release -p mp3converter --quiet)
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

ffm="ffmpeg -nostdin -loglevel error -y -threads 1"
# format|ffmpeg's encoder arguments (the settings our encoders use)|extension
formats=(
  "mp3|-c:a libmp3lame -b:a 192k|mp3"
  "opus|-c:a libopus -b:a 128k -compression_level 10 -frame_duration 20 -ar 48000|opus"
  "flac|-c:a flac -sample_fmt s16|flac"
  "wav|-c:a pcm_s16le|wav"
  "m4a|-c:a aac -b:a 192k -movflags +faststart|m4a"
)
if [ -n "${FORMATS:-}" ]; then
  kept=()
  for f in "${formats[@]}"; do [[ " $FORMATS " == *" ${f%%|*} "* ]] && kept+=("$f"); done
  [ ${#kept[@]} -gt 0 ] || { echo "FORMATS=$FORMATS names none of the formats" >&2; exit 1; }
  formats=("${kept[@]}")
fi
loudness=false
[[ " ${FORMATS:-mp3} " == *" mp3 "* ]] && loudness=true
cases=()
for kind in speech music noise; do
  in="$out/$kind-$secs.mp4"
  for f in "${formats[@]}"; do
    IFS='|' read -r name args ext <<<"$f"
    cases+=("ffmpeg|$kind|$name|$ffm -i $in -vn $args $out/o/ffmpeg-$kind.$ext")
    cases+=("ours|$kind|$name|$ours convert $in -o $out/o/ours-$kind.$ext --format $name --threads 1 -y")
  done
  if $loudness; then
    cases+=("ours|$kind|mp3+loudness|$ours convert $in -o $out/o/ours-$kind-loud.mp3 --loudness -16 --threads 1 -y")
  fi
done

runs="$out/runs.tsv"
printf 'round\twho\tkind\tformat\twall_s\tcpu_s\tbytes\n' >"$runs"
for ((r = 1; r <= rounds; r++)); do
  for c in "${cases[@]}"; do
    IFS='|' read -r who kind name cmd <<<"$c"
    # shellcheck disable=SC2086 # the command is meant to be word-split
    /usr/bin/time -f '%e %U %S' -o "$out/time.txt" $cmd >/dev/null 2>"$out/stderr.txt" || {
      echo "case $who $kind $name failed:" >&2; cat "$out/stderr.txt" >&2; exit 1
    }
    read -r wall user sys <"$out/time.txt"
    file="$(echo "$cmd" | grep -oE '(-o )?[^ ]+\.(mp3|opus|flac|wav|m4a)( |$)' | tail -1 | tr -d ' ' | sed 's/^-o//')"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$who" "$kind" "$name" "$wall" \
      "$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')" "$(stat -c %s "$file")" >>"$runs"
  done
  echo "round $r/$rounds done" >&2
done

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
cpu() { awk -F'\t' -v w="$1" -v k="$2" -v f="$3" '$2 == w && $3 == k && $4 == f { print $6 }' "$runs" | median; }
size() { awk -F'\t' -v w="$1" -v k="$2" -v f="$3" '$2 == w && $3 == k && $4 == f { print $7 }' "$runs" | median; }
{
  echo "### Run of $(date -u '+%Y-%m-%d %H:%M UTC'), ${secs} s inputs"
  echo
  echo "* machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1); load before the report: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "* $(ffmpeg -version | head -1 | cut -d' ' -f1-3); mp3converter at \`$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)\`; $rounds interleaved rounds, medians, CPU = user + sys"
  echo
  echo "| format | input | ffmpeg CPU s | ours CPU s | ours / ffmpeg | ffmpeg MB | ours MB |"
  echo "|---|---|---:|---:|---:|---:|---:|"
  for f in "${formats[@]}"; do
    name="${f%%|*}"
    for kind in speech music noise; do
      a="$(cpu ffmpeg "$kind" "$name")" b="$(cpu ours "$kind" "$name")"
      printf '| %s | %s | %.2f | %.2f | %.2f× | %.2f | %.2f |\n' "$name" "$kind" "$a" "$b" \
        "$(awk -v a="$a" -v b="$b" 'BEGIN { print b / a }')" \
        "$(awk -v s="$(size ffmpeg "$kind" "$name")" 'BEGIN { print s / 1e6 }')" \
        "$(awk -v s="$(size ours "$kind" "$name")" 'BEGIN { print s / 1e6 }')"
    done
  done
  $loudness || exit 0 # ends only the table's subshell (it is piped into tee)
  for kind in speech music noise; do
    a="$(cpu ours "$kind" mp3)" b="$(cpu ours "$kind" mp3+loudness)"
    printf '| mp3 + `--loudness -16` | %s | (ours without: %.2f) | %.2f | %.2f× of without | | |\n' "$kind" "$a" "$b" \
      "$(awk -v a="$a" -v b="$b" 'BEGIN { print b / a }')"
  done
} | tee "$out/results.md"
