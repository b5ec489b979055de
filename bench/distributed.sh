#!/usr/bin/env bash
# Distributed benchmarks (issue 4): jobs per minute with 1 vs 2 converter processes on RabbitMQ
# (10-minute clips), and upload → email latency of a 10-second clip, distributed vs single node.
#
#   bash bench/distributed.sh    # needs RabbitMQ (5672), MariaDB (3306), curl, jq, ffmpeg;
#                                # MP3CONVERTER=binary to skip the release build
#
# Every role runs as its own process on 127.0.0.1: auth, gateway, N converters, notifier, with
# MariaDB, RabbitMQ, files on disk (shared by the processes) and mail written to an outbox dir.
# Each converter runs one conversion at a time (MP3C_CONVERTER__CONCURRENCY=1), so adding a
# process adds a core's worth of work; on a 2-core machine two converters saturate it.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/bench/out/distributed"
mkdir -p "$out"
bin="${MP3CONVERTER:-}"
if [ -z "$bin" ]; then
  (cd "$root" && cargo build --release -p mp3converter --quiet)
  bin="${CARGO_TARGET_DIR:-$root/target}/release/mp3converter"
fi
pass="bench-password-1"
jobs_per_run="${JOBS:-8}"

clip10m="$out/tone-10min.m4a"
[ -f "$clip10m" ] || ffmpeg -v error -f lavfi -i "sine=frequency=440:duration=600" -ac 2 -c:a aac -b:a 128k -y "$clip10m"
clip10s="$out/tone-10s.m4a"
[ -f "$clip10s" ] || ffmpeg -v error -f lavfi -i "sine=frequency=440:duration=10" -ac 2 -c:a aac -b:a 128k -y "$clip10s"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

# start ROLE PORT DATA_DIR [ENV...]
start() {
  local role=$1 port=$2 data=$3; shift 3
  env "$@" MP3C_LOG=warn MP3C_ADMIN_EMAIL=bench@example.com MP3C_ADMIN_PASSWORD=$pass \
    MP3C_AUTH__LOGIN_LIMIT_PER_IP=100000 MP3C_CONVERTER__CONCURRENCY=1 \
    MP3C_GATEWAY__REQUEST_TIMEOUT_SECS=300 \
    "$bin" serve --roles "$role" --listen "127.0.0.1:$port" --data-dir "$data" \
    >"$data.$role.$port.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && return; sleep 0.1; done
  echo "$role did not become ready" >&2; cat "$data.$role.$port.log" >&2; exit 1
}

upload() { # token file → job id
  curl -sf -D - -o /dev/null -X POST -H "Authorization: Bearer $1" -F "file=@$2" \
    "http://127.0.0.1:$gw/upload" | awk -F': ' 'tolower($1)=="x-job-id" {print $2}' | tr -d '\r'
}
state() { curl -sf -H "Authorization: Bearer $1" "http://127.0.0.1:$gw/api/v1/jobs/$2" | jq -r .state; }
wait_done() { # token ids...
  local t=$1; shift
  for id in "$@"; do
    until [ "$(state "$t" "$id")" = done ]; do sleep 0.2; done
  done
}
now_ms() { date +%s%3N; }

# cluster CONVERTERS → starts auth, gateway, converters, notifier on a fresh database and queues
cluster() {
  cleanup; pids=()
  tag="b$(date +%s%N | tail -c 9)"
  db="mp3c_bench_$tag"
  mysql -uroot -e "CREATE DATABASE $db"
  data="$out/$tag"; mkdir -p "$data"
  common=(MP3C_DATABASE__URL="mysql://root@127.0.0.1:3306/$db" MP3C_QUEUE__BACKEND=rabbitmq
    MP3C_QUEUE__URL="amqp://guest:guest@127.0.0.1:5672/%2f"
    MP3C_QUEUE__VIDEO_QUEUE="video-$tag" MP3C_QUEUE__MP3_QUEUE="mp3-$tag"
    MP3C_STORAGE__PATH="$data/blobs" MP3C_MAIL__OUTBOX_DIR="$data/outbox"
    MP3C_AUTH__KEY_PATH="$data/jwt.pem")
  start auth 18201 "$data" "${common[@]}"
  start gateway 18202 "$data" "${common[@]}" MP3C_AUTH__URL=http://127.0.0.1:18201
  for i in $(seq 1 "$1"); do start converter $((18210 + i)) "$data" "${common[@]}"; done
  start notifier 18203 "$data" "${common[@]}"
  gw=18202
  token=$(curl -sf -X POST "http://127.0.0.1:$gw/login" -u "bench@example.com:$pass")
}

drop_run() { # stops this run's processes, drops its database and queues
  cleanup; pids=()
  mysql -uroot -e "DROP DATABASE IF EXISTS $db"
  for q in $(rabbitmqctl list_queues -q name 2>/dev/null | grep -E "^(video|mp3)-$tag"); do
    rabbitmqctl delete_queue -q "$q" >/dev/null
  done
}

throughput() { # converters
  cluster "$1"
  local ids=() t0 t1
  t0=$(now_ms)
  for _ in $(seq 1 "$jobs_per_run"); do ids+=("$(upload "$token" "$clip10m")"); done
  wait_done "$token" "${ids[@]}"
  t1=$(now_ms)
  awk -v n="$jobs_per_run" -v ms=$((t1 - t0)) -v c="$1" \
    'BEGIN { printf "%d converter(s): %d 10-minute jobs in %.1f s = %.2f jobs/min\n", c, n, ms/1000, n*60000/ms }'
  drop_run
}

latency() { # label → median upload→email ms over 5 runs of the 10 s clip
  local ms=()
  for _ in 1 2 3 4 5; do
    local before t0 id
    before=$(find "$data/outbox" -name '*.eml' 2>/dev/null | wc -l)
    t0=$(now_ms)
    id=$(upload "$token" "$clip10s")
    until [ "$(find "$data/outbox" -name '*.eml' 2>/dev/null | wc -l)" -gt "$before" ]; do sleep 0.01; done
    ms+=($(( $(now_ms) - t0 )))
  done
  printf '%s\n' "${ms[@]}" | sort -n | awk -v l="$1" '{a[NR]=$1} END {print l ": upload → email median " a[3] " ms (min " a[1] ", max " a[5] ")"}'
}

echo "== throughput (RabbitMQ + MariaDB, $jobs_per_run jobs of a 10-minute clip)"
throughput 1
throughput 2

echo "== latency, 10-second clip"
cluster 2
latency "distributed (5 processes, RabbitMQ, MariaDB)"
drop_run
cleanup; pids=()
data="$out/single-$(date +%s)"; mkdir -p "$data"
start all 18202 "$data" MP3C_CONVERTER__CONCURRENCY=2
gw=18202
token=$(curl -sf -X POST "http://127.0.0.1:$gw/login" -u "bench@example.com:$pass")
data="$data" latency "single node (embedded backends)"
