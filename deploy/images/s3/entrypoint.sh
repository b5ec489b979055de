#!/bin/sh
# s3s-fs on port 9000 with MinIO's credential variables (compose.yaml's MINIO_ROOT_USER and
# MINIO_ROOT_PASSWORD); the argument is the data directory.
set -eu
exec s3s-fs --host 0.0.0.0 --port 9000 \
  --access-key "${MINIO_ROOT_USER:?}" --secret-key "${MINIO_ROOT_PASSWORD:?}" "${1:-/data}"
