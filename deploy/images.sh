#!/usr/bin/env bash
# Builds every image the compose stack needs on this machine, without a registry:
#
#   mp3converter-base:bookworm   Debian bookworm from Debian's packages (mmdebstrap → docker
#                                import), also tagged debian:bookworm-slim so that the
#                                Dockerfile's runtime stage builds on it unchanged
#   mp3converter:local (+ :dev)  deploy/Dockerfile's runtime stage, word for word, with the
#                                binary built here (cargo build --release) instead of in its
#                                builder stage; :dev is the tag compose.yaml's roles run
#   mp3converter-rabbitmq:local  RabbitMQ, MariaDB, an S3 store (s3s-fs) and a mail catcher
#   mp3converter-mariadb:local   for the backends of compose.local.yaml (deploy/images/*)
#   mp3converter-s3:local
#   mp3converter-smtp:local
#
#   deploy/images.sh [--cache DIR] [--binary PATH] [--s3s-fs PATH] [--refresh]
#
# Idempotent and cached: every image carries a label with the hash of its inputs and is rebuilt
# only when they change. The base's tarball and `docker save` archives of the backend images are
# kept under DIR/images (default ~/.cache/mp3converter-ci, as .ci/run's), so a machine whose
# Docker storage was wiped loads them instead of downloading Debian packages again. --refresh
# rebuilds the base and the backends (Debian's security updates). Needs: a running Docker
# engine, mmdebstrap (apt), cargo.
set -euo pipefail
cd "$(dirname "$0")/.."

cache="$HOME/.cache/mp3converter-ci"
binary=""
s3s_fs=""
refresh=0
while [ $# -gt 0 ]; do
  case "$1" in
    --cache) cache="$2"; shift 2 ;;
    --binary) binary="$2"; shift 2 ;;
    --s3s-fs) s3s_fs="$2"; shift 2 ;;
    --refresh) refresh=1; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "images.sh: unknown argument $1 (--help)" >&2; exit 2 ;;
  esac
done
images="$cache/images"
mkdir -p "$images"
LABEL=org.mp3converter.inputs
log() { printf '\n==> images: %s\n' "$*"; }

# The inputs' hash an image was built from ("" when there is no such image).
built_from() { docker image inspect -f "{{ index .Config.Labels \"$LABEL\" }}" "$1" 2>/dev/null || true; }
hash_of() { sha256sum | cut -c1-16; }
# docker build, quiet (the legacy builder: Debian's engine has no buildx), its output shown only
# when it fails.
docker_build() {
  local out
  out="$(mktemp)"
  if ! DOCKER_BUILDKIT=0 docker build -q "$@" >"$out" 2>&1; then
    cat "$out" >&2
    rm -f "$out"
    return 1
  fi
  rm -f "$out"
}

# --- the base image: Debian bookworm from Debian's packages ---------------------------------
# Like the official slim image: minbase (apt, no systemd), no manuals, docs or translations,
# no apt lists; the same three suites as deb.debian.org's images.
SUITES=("deb http://deb.debian.org/debian bookworm main"
  "deb http://deb.debian.org/debian bookworm-updates main"
  "deb http://deb.debian.org/debian-security bookworm-security main")
MMDEBSTRAP=(mmdebstrap --variant=minbase --quiet
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/locale/*'
  --dpkgopt='path-exclude=/usr/share/info/*'
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin "$1"/var/log/apt/* "$1"/var/log/*.log')
base_key="$(printf '%s\n' "${MMDEBSTRAP[@]}" "${SUITES[@]}" | hash_of)"
base_tar="$images/base-bookworm-$base_key.tar"
BASE=mp3converter-base:bookworm

if [ "$refresh" = 1 ] || [ "$(built_from "$BASE")" != "$base_key" ]; then
  if [ "$refresh" = 1 ] || [ ! -s "$base_tar" ]; then
    log "mmdebstrap bookworm → $base_tar"
    command -v mmdebstrap >/dev/null || { echo "images.sh: mmdebstrap is needed (apt-get install mmdebstrap)" >&2; exit 1; }
    rm -f "$images"/base-bookworm-*.tar
    # (the name's .tar is how mmdebstrap knows to write a tarball, not a directory)
    "${MMDEBSTRAP[@]}" bookworm "$images/partial.tar" "${SUITES[@]}"
    mv "$images/partial.tar" "$base_tar"
  fi
  log "docker import $base_tar → $BASE"
  docker import --change "LABEL $LABEL=$base_key" --change 'CMD ["bash"]' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    "$base_tar" "$BASE" >/dev/null
fi
# The runtime stage says `FROM debian:bookworm-slim`: on this machine, that is the base above.
docker tag "$BASE" debian:bookworm-slim
echo "base: $BASE ($base_key)"

# --- the backends (deploy/images/NAME/) -----------------------------------------------------
# build_backend NAME [FILE…]: FILEs are copied into the build context beside the directory's
# own files (prebuilt binaries).
build_backend() {
  local name="$1"
  shift
  local dir="deploy/images/$name" tag="mp3converter-$name:local" key archive ctx
  key="$( (echo "$base_key"; cd "$dir" && find . -type f | sort | xargs sha256sum; for f in "$@"; do sha256sum <"$f"; done) | hash_of)"
  archive="$images/$name-$key.tar"
  if [ "$refresh" = 0 ] && [ "$(built_from "$tag")" = "$key" ]; then
    echo "$name: $tag ($key, up to date)"
    return
  fi
  if [ "$refresh" = 0 ] && [ -s "$archive" ]; then
    log "docker load $archive"
    docker load -q -i "$archive" >/dev/null
  else
    log "docker build $tag ($dir)"
    ctx="$(mktemp -d)"
    cp -a "$dir/." "$ctx/"
    for f in "$@"; do cp "$f" "$ctx/"; done
    docker_build --build-arg "BASE=$BASE" --label "$LABEL=$key" -t "$tag" "$ctx"
    rm -rf "$ctx"
    rm -f "$images/$name"-*.tar
    docker save -o "$archive.part" "$tag"
    mv "$archive.part" "$archive"
  fi
  echo "$name: $tag ($key)"
}

if [ -z "$s3s_fs" ]; then
  s3s_fs="$cache/bin/s3s-fs"
  if [ ! -x "$s3s_fs" ]; then
    log "cargo install s3s-fs (once per machine, into $cache/bin)"
    cargo install s3s-fs@0.14.1 --features binary --locked --root "$cache" >/dev/null
  fi
fi
build_backend rabbitmq
build_backend mariadb
build_backend s3 "$s3s_fs"
build_backend smtp

# --- mp3converter:local: the runtime stage of deploy/Dockerfile with a prebuilt binary --------
if [ -z "$binary" ]; then
  log "cargo build --release -p mp3converter --locked"
  cargo build --release -p mp3converter --locked
  binary="${CARGO_TARGET_DIR:-target}/release/mp3converter"
fi
# The Dockerfile's global ARGs, a stage named builder holding the binary where the builder
# stage puts it (/out/mp3converter), then the runtime stage as written (up to the end of file).
runtime_from='FROM debian:${DEBIAN_RELEASE}-slim AS runtime'
if ! grep -qxF "$runtime_from" deploy/Dockerfile; then
  echo "images.sh: deploy/Dockerfile has no line \`$runtime_from\`: update images.sh with it" >&2
  exit 1
fi
ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
{
  echo "# Generated by deploy/images.sh from deploy/Dockerfile: its runtime stage, the binary built"
  echo "# on the host."
  sed -n '/^FROM /q; /^ARG /p' deploy/Dockerfile
  echo "FROM scratch AS builder"
  echo "COPY mp3converter /out/mp3converter"
  sed -n "\\|^${runtime_from//\$/\\\$}\$|,\$p" deploy/Dockerfile
} >"$ctx/Dockerfile"
cp "$binary" "$ctx/mp3converter"
key="$( (echo "$base_key"; sha256sum <"$ctx/Dockerfile"; sha256sum <"$ctx/mp3converter") | hash_of)"
if [ "$(built_from mp3converter:local)" = "$key" ]; then
  echo "mp3converter: mp3converter:local ($key, up to date)"
else
  log "docker build mp3converter:local (deploy/Dockerfile's runtime stage, $binary)"
  docker_build --label "$LABEL=$key" -t mp3converter:local "$ctx"
  echo "mp3converter: mp3converter:local ($key)"
fi
docker tag mp3converter:local mp3converter:dev
# Superseded builds of these images (untagged now) go.
docker image prune -f --filter "label=$LABEL" >/dev/null
docker images --filter "label=$LABEL" --format '{{.Repository}}:{{.Tag}}\t{{.Size}}'
