#!/usr/bin/env bash
# Engine benchmark: mp3converter's conversion engine against the bare ffmpeg
# command (the budgets in docs/benchmarks.md). Results go to docs/benchmarks.md ("Engine").
#
#   bash bench/engine.sh            # ROUNDS=5 by default
#
# 1. Generates the inputs once into bench/out/engine/ (git-ignored): 60 s and
#    600 s H.264 + AAC-LC MP4s, the 600 s one remuxed to MPEG-TS (ffmpeg
#    fallback path) and its audio as a 192 kbps MP3 (copy path); and a 600 s
#    MP4 of real music as 160 kbps AAC (Debian's drascula-music package,
#    fetched with `apt-get download`).
# 2. Runs every case once per round, ROUNDS interleaved rounds, each under
#    `/usr/bin/time -f '%e %U %S %M'` (wall s, user s, sys s, peak RSS KiB).
#    Times and RSS include child processes that were waited for, so the
#    fallback rows count the ffmpeg child too.
# 3. Prints the machine, the medians as a Markdown table and the budgets with
#    pass/fail; also saved to bench/out/engine/results.md (raw runs: runs.tsv).
#
# Environment: ROUNDS (default 5), MP3CONVERTER (binary; default: built here
# with `cargo build --release -p mp3converter` into $CARGO_TARGET_DIR or target/).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/bench/out/engine"
rounds="${ROUNDS:-5}"
mkdir -p "$out"

if [ -z "${MP3CONVERTER:-}" ]; then
  (cd "$root" && nice -n 10 cargo build --release -p mp3converter --quiet)
  MP3CONVERTER="${CARGO_TARGET_DIR:-$root/target}/release/mp3converter"
fi
ours="$MP3CONVERTER"

# ---------------------------------------------------------------- inputs
# Audio: two sines (440 Hz left-heavy, 660 Hz right-heavy) with slow amplitude
# modulation, plus white noise at about -30 dB (fixed seed). Video: a tiny
# test pattern, so demuxing costs something but decoding it is never needed.
make_mp4() { # seconds out
  local d=$1 dst=$2
  [ -f "$dst" ] && return
  ffmpeg -nostdin -hide_banner -loglevel error -y \
    -f lavfi -i "testsrc2=s=160x90:r=10:d=$d" \
    -f lavfi -i "aevalsrc=exprs='0.35*sin(2*PI*440*t)*(0.6+0.4*sin(2*PI*0.13*t))+0.1*sin(2*PI*660*t)|0.1*sin(2*PI*440*t)+0.35*sin(2*PI*660*t)*(0.6+0.4*sin(2*PI*0.07*t+1))':s=44100:d=$d" \
    -f lavfi -i "anoisesrc=color=white:amplitude=0.0316:seed=42:r=44100:d=$d" \
    -filter_complex "[2:a]aformat=channel_layouts=stereo[n];[1:a][n]amix=inputs=2:normalize=0[a]" \
    -map 0:v -map '[a]' \
    -c:v libx264 -preset ultrafast -pix_fmt yuv420p \
    -c:a aac -profile:a aac_low -b:a 128k -ar 44100 -ac 2 \
    "$dst.part.mp4"
  mv "$dst.part.mp4" "$dst"
}
make_mp4 60 "$out/in-60.mp4"
make_mp4 600 "$out/in-600.mp4"
# Real music: the soundtrack of the game Drascula (Debian's drascula-music, freely
# redistributable; 31 tracks of 44.1 kHz stereo Vorbis), concatenated and cut to 600 s,
# re-encoded as 160 kbps AAC-LC under the same tiny test pattern as the other MP4s.
make_music() { # out
  local dst=$1 pkg="$out/drascula-music"
  [ -f "$dst" ] && return
  if [ ! -d "$pkg" ]; then
    (cd "$out" && apt-get download drascula-music)
    dpkg-deb -x "$out"/drascula-music_*.deb "$pkg"
  fi
  find "$pkg" -name 'track*.ogg' | sort -V | sed "s/^/file '/; s/\$/'/" >"$out/music.txt"
  ffmpeg -nostdin -hide_banner -loglevel error -y \
    -f lavfi -i "testsrc2=s=160x90:r=10:d=600" -f concat -safe 0 -i "$out/music.txt" \
    -map 0:v -map 1:a -t 600 \
    -c:v libx264 -preset ultrafast -pix_fmt yuv420p \
    -c:a aac -profile:a aac_low -b:a 160k -ar 44100 -ac 2 \
    "$dst.part.mp4"
  mv "$dst.part.mp4" "$dst"
}
make_music "$out/music-600.mp4"
if [ ! -f "$out/in-600.ts" ]; then
  ffmpeg -nostdin -hide_banner -loglevel error -y -i "$out/in-600.mp4" -c copy -f mpegts "$out/in-600.ts.part"
  mv "$out/in-600.ts.part" "$out/in-600.ts"
fi
if [ ! -f "$out/in-600.mp3" ]; then
  ffmpeg -nostdin -hide_banner -loglevel error -y -i "$out/in-600.mp4" -vn -c:a libmp3lame -b:a 192k -f mp3 "$out/in-600.mp3.part"
  mv "$out/in-600.mp3.part" "$out/in-600.mp3"
fi

# ---------------------------------------------------------------- cases
# name|command (word-split; no path contains spaces: they live in bench/out/engine)
o="$out/o"
mkdir -p "$o"
ffm="ffmpeg -nostdin -loglevel error -y"
cases=(
  "ffmpeg-60|$ffm -i $out/in-60.mp4 -vn -c:a libmp3lame -b:a 192k $o/ffmpeg-60.mp3"
  "ours-60-t1|$ours convert $out/in-60.mp4 -o $o/ours-60-t1.mp3 --threads 1 -y"
  "ffmpeg-600|$ffm -i $out/in-600.mp4 -vn -c:a libmp3lame -b:a 192k $o/ffmpeg-600.mp3"
  "ours-600-t1|$ours convert $out/in-600.mp4 -o $o/ours-600-t1.mp3 --threads 1 -y"
  "ours-600-t2|$ours convert $out/in-600.mp4 -o $o/ours-600-t2.mp3 --threads 2 -y"
  "ffmpeg-music|$ffm -i $out/music-600.mp4 -vn -c:a libmp3lame -b:a 192k $o/ffmpeg-music.mp3"
  "ours-music-t1|$ours convert $out/music-600.mp4 -o $o/ours-music-t1.mp3 --threads 1 -y"
  "ours-music-base|env MP3C_LAME_CPU=baseline $ours convert $out/music-600.mp4 -o $o/ours-music-base.mp3 --threads 1 -y"
  "ffmpeg-ts|$ffm -i $out/in-600.ts -vn -c:a libmp3lame -b:a 192k $o/ffmpeg-ts.mp3"
  "ours-ts|$ours convert $out/in-600.ts -o $o/ours-ts.mp3 --engine auto -y"
  "ours-mp3-copy|$ours convert $out/in-600.mp3 -o $o/ours-mp3-copy.mp3 -y"
  "ours-mp3-reencode|$ours convert $out/in-600.mp3 -o $o/ours-mp3-reencode.mp3 --bitrate 192 -y"
)

load() { cut -d' ' -f1-3 /proc/loadavg; }
load_before="$(load)"
runs="$out/runs.tsv"
printf 'round\tcase\twall_s\tuser_s\tsys_s\tmaxrss_kib\tload1\n' >"$runs"
declare -A route
for ((r = 1; r <= rounds; r++)); do
  for c in "${cases[@]}"; do
    name="${c%%|*}" cmd="${c#*|}"
    # shellcheck disable=SC2086 # the command is meant to be word-split
    /usr/bin/time -f '%e %U %S %M' -o "$out/time.txt" $cmd >/dev/null 2>"$out/stderr.txt" || {
      echo "case $name failed:" >&2; cat "$out/stderr.txt" >&2; exit 1
    }
    read -r wall user sys rss <"$out/time.txt"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$name" "$wall" "$user" "$sys" "$rss" "$(cut -d' ' -f1 /proc/loadavg)" >>"$runs"
    [ "$name" != "${name#ours}" ] && route[$name]="$(tail -n 1 "$out/stderr.txt")"
  done
  echo "round $r/$rounds done (load $(load))" >&2
done
load_after="$(load)"

# ---------------------------------------------------------------- report
# median of column $2 (1-based in runs.tsv) for case $1
median() {
  awk -F'\t' -v c="$1" -v k="$2" '$2 == c { print $k }' "$runs" | sort -g |
    awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
cpu_median() { # user+sys per run, then the median
  awk -F'\t' -v c="$1" '$2 == c { print $4 + $5 }' "$runs" | sort -g |
    awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
declare -A wall cpu rss
for c in "${cases[@]}"; do
  n="${c%%|*}"
  wall[$n]="$(median "$n" 3)"
  cpu[$n]="$(cpu_median "$n")"
  rss[$n]="$(median "$n" 6)"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
verdict() { awk -v v="$1" -v op="$2" -v lim="$3" 'BEGIN { ok = (op == "<=") ? v <= lim : v >= lim; print ok ? "**pass**" : "**FAIL**" }'; }

{
  echo "### Run of $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "* machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM"
  echo "* load average (1/5/15 min): before \`$load_before\`, after \`$load_after\`"
  echo "* $(ffmpeg -version | head -1 | cut -d' ' -f1-3); mp3converter at \`$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)\`"
  echo "* $rounds interleaved rounds; medians; CPU = user + sys; RSS = peak resident set (includes a waited-for ffmpeg child)"
  echo
  echo "| case | command | wall s | CPU s | peak RSS MiB |"
  echo "|---|---|---:|---:|---:|"
  for c in "${cases[@]}"; do
    n="${c%%|*}" cmd="${c#*|}"
    cmd="${cmd//$out\//}"
    cmd="${cmd//$ours/mp3converter}"
    cmd="${cmd//-loglevel error -y /}"
    cmd="${cmd#env }"
    printf '| %s | `%s` | %.2f | %.2f | %.1f |\n' "$n" "$cmd" "${wall[$n]}" "${cpu[$n]}" "$(awk -v k="${rss[$n]}" 'BEGIN { print k / 1024 }')"
  done
  echo
  echo "Routes reported by mp3converter (last stderr line):"
  echo
  for n in ours-60-t1 ours-600-t1 ours-600-t2 ours-music-t1 ours-ts ours-mp3-copy ours-mp3-reencode; do
    echo "* $n: \`${route[$n]}\`"
  done
  echo
  echo "| budget | measured | limit | result |"
  echo "|---|---:|---:|---|"
  v="$(ratio "${cpu[ours-60-t1]}" "${cpu[ffmpeg-60]}")"
  echo "| CPU, 60 s MP4, ours --threads 1 / ffmpeg | ${v}× | ≤ 0.90× | $(verdict "$v" '<=' 0.90) |"
  v="$(ratio "${cpu[ours-600-t1]}" "${cpu[ffmpeg-600]}")"
  echo "| CPU, 600 s MP4, ours --threads 1 / ffmpeg | ${v}× | ≤ 0.90× | $(verdict "$v" '<=' 0.90) |"
  v="$(ratio "${cpu[ours-music-t1]}" "${cpu[ffmpeg-music]}")"
  echo "| CPU, 600 s music (160 kbps AAC), ours --threads 1 / ffmpeg | ${v}× | ≤ 0.90× | $(verdict "$v" '<=' 0.90) |"
  v="$(ratio "${cpu[ours-music-base]}" "${cpu[ffmpeg-music]}")"
  echo "| (info) the same with LAME's baseline copy (MP3C_LAME_CPU=baseline) / ffmpeg | ${v}× | — | — |"
  v="$(ratio "${wall[ours-600-t2]}" "${wall[ffmpeg-600]}")"
  echo "| wall, 600 s MP4, ours --threads 2 / ffmpeg | ${v}× | ≤ 0.55× | $(verdict "$v" '<=' 0.55) |"
  v="$(awk -v k="${rss[ours-600-t1]}" 'BEGIN { printf "%.1f", k / 1024 }')"
  echo "| peak RSS, 600 s MP4, ours --threads 1 | ${v} MiB | ≤ 20 MiB | $(verdict "$v" '<=' 20) |"
  v="$(awk -v k="${rss[ours-600-t2]}" 'BEGIN { printf "%.1f", k / 1024 }')"
  echo "| peak RSS, 600 s MP4, ours --threads 2 | ${v} MiB | reported (ffmpeg: $(awk -v k="${rss[ffmpeg-600]}" 'BEGIN { printf "%.1f", k / 1024 }') MiB) | — |"
  v="$(awk -v a="${wall[ours-ts]}" -v b="${wall[ffmpeg-ts]}" 'BEGIN { printf "%.1f", (a / b - 1) * 100 }')"
  echo "| fallback overhead, 600 s TS, wall ours / bare ffmpeg − 1 | ${v} % | ≤ 5 % | $(verdict "$v" '<=' 5) |"
  v="$(awk -v a="${cpu[ours-ts]}" -v b="${cpu[ffmpeg-ts]}" 'BEGIN { printf "%.1f", (a / b - 1) * 100 }')"
  echo "| (info) fallback overhead, CPU ours / bare ffmpeg − 1 | ${v} % | — | — |"
  v="$(ratio "${cpu[ours-600-t2]}" "${cpu[ours-600-t1]}")"
  echo "| (info) CPU, 600 s MP4, --threads 2 / --threads 1 | ${v}× | — | — |"
  v="$(ratio "${wall[ours-mp3-reencode]}" "${wall[ours-mp3-copy]}")"
  echo "| copy speed-up, 600 s MP3, wall re-encode / copy | ${v}× | ≥ 10× | $(verdict "$v" '>=' 10) |"
} | tee "$out/results.md"
