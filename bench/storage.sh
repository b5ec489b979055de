#!/usr/bin/env bash
# Storage benchmark: upload and download throughput of one 1 GiB blob through each storage
# backend — local files, S3 (s3s-fs) and MongoDB GridFS (SecantusDB) — with the peak RSS of the
# client (the adapter, as it runs inside a gateway or converter) and of the storage server.
# Results go to docs/benchmarks.md ("Storage").
#
#   bash bench/storage.sh     # SIZE_MIB=1024 ROUNDS=3 by default
#
# Needs the s3s-fs binary and the SecantusDB venv that .ci/run caches
# (~/.cache/mp3converter-ci/bin/s3s-fs, ~/.cache/mp3converter-ci/secantusdb-*), or S3S and
# SECANTUSD pointing at them. Each server starts fresh on a free port with its data under
# bench/out/storage/ (git-ignored), on the same disk as the fs backend's files.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/bench/out/storage"
cache="${MP3C_CI_CACHE:-$HOME/.cache/mp3converter-ci}"
s3s="${S3S:-$cache/bin/s3s-fs}"
secantusd="${SECANTUSD:-$(ls -d "$cache"/secantusdb-*/bin/secantusd-py 2>/dev/null | tail -1)}"
export SIZE_MIB="${SIZE_MIB:-1024}"
rounds="${ROUNDS:-3}"
rm -rf "$out" && mkdir -p "$out"

(cd "$root" && cargo build --release -p mp3converter-storage --example throughput --quiet)
bench="${CARGO_TARGET_DIR:-$root/target}/release/examples/throughput"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
peak_mib() { awk '/VmHWM/ {print int($2/1024)}' "/proc/$1/status"; }

server=""
trap '[ -n "$server" ] && kill "$server" 2>/dev/null || true' EXIT

run() { # backend label, server pid or "-"; the MP3C_STORAGE__* settings are in the environment
  for round in $(seq 1 "$rounds"); do
    line="$("$bench")"
    echo "$1 round $round: $line" >&2
    printf '%s\t%s\t%s\n' "$1" "$line" "$([ "$2" = - ] && echo - || peak_mib "$2")" >>"$out/runs.tsv"
  done
}

MP3C_STORAGE__BACKEND=fs MP3C_STORAGE__PATH="$out/fs" run fs -

port="$(free_port)"
mkdir -p "$out/s3/bench"
"$s3s" --host 127.0.0.1 --port "$port" --access-key bench --secret-key benchbench "$out/s3" \
  >"$out/s3s.log" 2>&1 &
server=$!
wait_port "$port"
MP3C_STORAGE__BACKEND=s3 MP3C_STORAGE__ENDPOINT="http://127.0.0.1:$port" \
  MP3C_STORAGE__BUCKET=bench MP3C_STORAGE__ACCESS_KEY_ID=bench \
  MP3C_STORAGE__SECRET_ACCESS_KEY=benchbench run s3 "$server"
kill "$server"; wait "$server" 2>/dev/null || true

port="$(free_port)"
"$secantusd" --host 127.0.0.1 --port "$port" --standalone --storage-path "$out/gridfs" \
  --log-level WARNING >"$out/secantus.log" 2>&1 &
server=$!
wait_port "$port"
MP3C_STORAGE__BACKEND=gridfs MP3C_STORAGE__URL="mongodb://127.0.0.1:$port" run gridfs "$server"
kill "$server"; wait "$server" 2>/dev/null || true
server=""

# Medians per backend as a Markdown table.
python3 - "$out/runs.tsv" <<'PY' | tee "$out/results.md"
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    backend, result, server = line.rstrip("\n").split("\t")
    rows.setdefault(backend, []).append((json.loads(result), server))
print("| backend | upload MiB/s | download MiB/s | client peak RSS | server peak RSS |")
print("|---|---:|---:|---:|---:|")
for backend, runs in rows.items():
    med = lambda k: statistics.median(r[k] for r, _ in runs)
    server = max((int(s) for _, s in runs if s != "-"), default=None)
    print(f"| {backend} | {med('put_mib_s'):.0f} | {med('get_mib_s'):.0f} | "
          f"{max(r['client_peak_rss_mib'] for r, _ in runs)} MiB | "
          f"{'—' if server is None else f'{server} MiB'} |")
PY
