"""Uploads FILE to SERVER's tus endpoint with tuspy, in CHUNK-byte PATCHes, stopping after the
first chunk and resuming from the server's offset in a new uploader (every PATCH with tuspy's
default sha1 Upload-Checksum); prints the upload's URL and the job id the final PATCH answered
with.

Usage: python upload.py SERVER TOKEN FILE CHUNK
"""

import json
import os
import sys

from tusclient import client

server, token, path, chunk = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
tus = client.TusClient(f"{server}/api/v1/uploads", headers={"Authorization": f"Bearer {token}"})
metadata = {"filename": os.path.basename(path), "mono": "true"}

first = tus.uploader(path, chunk_size=chunk, metadata=metadata, upload_checksum=True)
first.upload_chunk()
url = first.url
sent = first.offset

rest = tus.uploader(path, chunk_size=chunk, url=url, metadata=metadata, upload_checksum=True)
if rest.offset != sent:
    raise SystemExit(f"resumed at {rest.offset}, the server had {sent}")
rest.upload()
job = rest.request.response_headers.get("x-job-id")
if not job:
    raise SystemExit("the final PATCH named no job")
print(json.dumps({"url": url, "firstChunk": sent, "job": job}))
