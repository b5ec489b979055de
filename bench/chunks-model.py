#!/usr/bin/env python3
"""Wall time of one long job split into chunk tasks, for 1–16 converters, from measured costs.

The model: the converter that takes the job's message fetches the video and plans it
(plan); then every converter takes chunk tasks, each costing the chunk's encode time plus a
per-task overhead (queue round trip, the chunk's upload, the database transaction, a first
fetch of the video by each converter, spread over its tasks); the last chunk queues the join,
which one converter does (join). With C chunks on N converters, the chunks take
ceil(C / N) rounds:

    wall(N) = plan + ceil(C / N) * (chunk + overhead) + join

Inputs come from `soak chunks` (it prints them as "model inputs: …" from the one-converter
run's logs); the table shows the model against the measured one- and two-converter runs, then
a 3-hour input (180 chunks of 60 s) on 1, 2, 4, 8 and 16 converters.
"""
import argparse
import math

p = argparse.ArgumentParser()
p.add_argument("--audio-min", type=float, required=True, help="minutes of the measured input")
p.add_argument("--chunks", type=int, required=True, help="chunk tasks of the measured input")
p.add_argument("--chunk-secs", type=float, required=True, help="mean encode time of one chunk")
p.add_argument("--task-overhead-secs", type=float, required=True)
p.add_argument("--plan-secs", type=float, required=True)
p.add_argument("--join-secs", type=float, required=True)
p.add_argument("--measured-1", type=float, help="measured wall, one converter")
p.add_argument("--measured-2", type=float, help="measured wall, two converters")
p.add_argument("--target-min", type=float, default=180.0, help="minutes of the modelled input")
a = p.parse_args()

def wall(chunks, n, scale=1.0):
    # Planning and joining grow with the input (the plan reads its headers; the join copies
    # every chunk): scaled by the input's length.
    return (a.plan_secs + a.join_secs) * scale + math.ceil(chunks / n) * (
        a.chunk_secs + a.task_overhead_secs
    )

print(f"| input | converters | modelled wall (s) | measured wall (s) | speed-up |")
print(f"|---|---|---|---|---|")
one = wall(a.chunks, 1)
for n, measured in ((1, a.measured_1), (2, a.measured_2)):
    m = f"{measured:.1f}" if measured else "—"
    print(f"| {a.audio_min:.0f} min | {n} | {wall(a.chunks, n):.1f} | {m} | {one / wall(a.chunks, n):.2f}× |")
scale = a.target_min / a.audio_min
chunks = math.ceil(a.chunks * scale)
base = wall(chunks, 1, scale)
for n in (1, 2, 4, 8, 16):
    w = wall(chunks, n, scale)
    print(f"| {a.target_min:.0f} min ({chunks} chunks) | {n} | {w:.1f} | — | {base / w:.2f}× |")
