#!/usr/bin/env bash
# LAME alone, built several ways (ADR 0006): each build of crates/lame's sources with
# crates/lame/csrc/config.h, and Debian's libmp3lame.so.0 (what ffmpeg uses) when installed.
#
#   bash bench/lame/builds.sh        # ROUNDS=11 by default
#
# Encodes 60 s of the engine bench's music input (bench/engine.sh makes it) with
# bench/lame/harness.c, ROUNDS interleaved rounds; prints each build's median CPU time, its
# ratio to Debian's build (or to ours when Debian's is absent) and the MD5 of its output, which
# says whether the build writes the same bytes.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="$root/bench/out/lame"
src="$root/crates/lame/lame-3.100"
rounds="${ROUNDS:-11}"
mkdir -p "$out"
music="$root/bench/out/engine/music-600.mp4"
[ -f "$music" ] || { echo "run bench/engine.sh first (it makes $music)" >&2; exit 1; }
[ -f "$out/music-60.f32" ] ||
  ffmpeg -nostdin -loglevel error -y -ss 120 -t 60 -i "$music" -vn -f f32le -ac 2 -ar 44100 "$out/music-60.f32"

base="-O3 -fPIC -fomit-frame-pointer -ffp-contract=off"
builds=(
  "baseline|$base"
  "x86-64-v3|$base -march=x86-64-v3"
  "v3+fma|-O3 -fPIC -fomit-frame-pointer -march=x86-64-v3"
  "fast-math|$base -ffast-math"
  "v3+fast-math|-O3 -fPIC -fomit-frame-pointer -march=x86-64-v3 -ffast-math"
  "lto|$base -flto"
  "unroll|$base -funroll-loops"
)
sources=(bitstream encoder fft gain_analysis id3tag lame newmdct presets psymodel quantize
  quantize_pvt reservoir set_get tables takehiro util vbrquantize VbrTag version
  vector/xmm_quantize_sub)
names=()
for b in "${builds[@]}"; do
  name="${b%%|*}" flags="${b#*|}" dir="$out/$name"
  names+=("$name")
  [ -x "$dir/harness" ] && continue
  mkdir -p "$dir"
  for f in "${sources[@]}"; do
    # shellcheck disable=SC2086 # the flags are meant to be word-split
    gcc $flags -w -DHAVE_CONFIG_H -I"$root/crates/lame/csrc" -I"$src/include" -I"$src/libmp3lame" \
      -c "$src/libmp3lame/$f.c" -o "$dir/$(basename "$f").o"
  done
  gcc-ar rcs "$dir/libmp3lame.a" "$dir"/*.o
  # shellcheck disable=SC2086
  gcc $flags -I"$src/include" "$root/bench/lame/harness.c" "$dir/libmp3lame.a" -lm -o "$dir/harness"
done
if [ -e /usr/lib/x86_64-linux-gnu/libmp3lame.so.0 ]; then
  mkdir -p "$out/debian"
  gcc -O2 -I"$src/include" "$root/bench/lame/harness.c" -l:libmp3lame.so.0 -o "$out/debian/harness"
  names=(debian "${names[@]}")
fi

runs="$out/runs.txt"
: >"$runs"
for ((r = 1; r <= rounds; r++)); do
  for n in "${names[@]}"; do
    echo "$n $("$out/$n/harness" "$out/music-60.f32" "$out/$n.mp3")" >>"$runs"
  done
done
median() { awk -v n="$1" '$1 == n { print $2 }' "$runs" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ref="$(median "${names[0]}")"
echo "| build | median CPU s | vs ${names[0]} | output MD5 |"
echo "|---|---:|---:|---|"
for n in "${names[@]}"; do
  m="$(median "$n")"
  printf '| %s | %.3f | %.2f | `%s` |\n' "$n" "$m" "$(awk -v a="$m" -v b="$ref" 'BEGIN { print a / b }')" "$(md5sum <"$out/$n.mp3" | cut -c1-8)"
done
