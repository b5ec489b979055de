#!/usr/bin/env python3
"""Validates the custom resources of a rendered manifest stream and passes the rest on.

kubernetes-validate knows only the built-in kinds: for a custom resource (KEDA's ScaledObject)
it prints a WARN and exits 0, so nothing would be checked. This filter, between
`kubectl kustomize` and `kubernetes-validate --strict`:

  * validates every document whose apiVersion group has schemas in deploy/k8s/schemas/
    (GROUP_VERSION_KIND.json, strict JSON Schemas written for this project) and drops it from
    the stream; a custom kind without a schema there is an error;
  * checks what a schema cannot see, across documents: autoscaler targets exist, a Deployment
    has one autoscaler and no fixed replica count under it, a KEDA trigger's authenticationRef
    exists, the RabbitMQ scaler counts in-flight messages (protocol http) on the configured
    `video` queue;
  * writes every built-in document to stdout for kubernetes-validate.

Usage: kubectl kustomize DIR | python3 deploy/k8s/crds.py | kubernetes-validate --strict -k 1.33.0 -
Messages go to stderr; the exit status is 1 if anything failed.
"""

import json
import pathlib
import sys

import jsonschema
import yaml

SCHEMAS = pathlib.Path(__file__).resolve().parent / "schemas"
# Groups of the built-in kinds kubernetes-validate has schemas for.
BUILTIN_GROUPS = {
    "", "apps", "batch", "autoscaling", "policy", "networking.k8s.io", "rbac.authorization.k8s.io",
    "storage.k8s.io", "scheduling.k8s.io", "coordination.k8s.io", "discovery.k8s.io",
    "admissionregistration.k8s.io", "apiextensions.k8s.io", "certificates.k8s.io", "node.k8s.io",
}
CONFIG_MAP = "mp3converter-config"


def group_of(api_version):
    return api_version.split("/")[0] if "/" in api_version else ""


def name_of(doc):
    return f"{doc.get('kind', '?').lower()}/{doc.get('metadata', {}).get('name', '?')}"


def validate_custom(doc):
    """Errors of one custom resource against its local schema."""
    api_version, kind = doc.get("apiVersion", ""), doc.get("kind", "")
    path = SCHEMAS / f"{api_version.replace('/', '_')}_{kind}.json"
    if not path.exists():
        return [f"no schema for {kind} ({api_version}): add {path.relative_to(SCHEMAS.parent.parent.parent)}"]
    schema = json.loads(path.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = (
        f"{'.'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
        for e in sorted(validator.iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path])
    )
    return list(dict.fromkeys(errors))  # a value can break the generic and the scaler's rule


def cross_check(docs):
    """Errors that span documents."""
    errors = []
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d.get("kind"), {})[d["metadata"]["name"]] = d
    deployments = by_kind.get("Deployment", {})
    owners = {}
    for hpa in by_kind.get("HorizontalPodAutoscaler", {}).values():
        ref = hpa["spec"]["scaleTargetRef"]
        owners.setdefault((ref.get("kind"), ref["name"]), []).append(name_of(hpa))
    for so in by_kind.get("ScaledObject", {}).values():
        ref = so["spec"]["scaleTargetRef"]
        owners.setdefault((ref.get("kind", "Deployment"), ref["name"]), []).append(name_of(so))
        for trigger in so["spec"]["triggers"]:
            auth = trigger.get("authenticationRef")
            if auth and auth.get("kind", "TriggerAuthentication") == "TriggerAuthentication" \
                    and auth["name"] not in by_kind.get("TriggerAuthentication", {}):
                errors.append(f"{name_of(so)}: no TriggerAuthentication {auth['name']} in the stream")
            if trigger["type"] == "rabbitmq":
                meta = trigger["metadata"]
                if meta.get("protocol") != "http" or meta.get("excludeUnacknowledged") == "true":
                    errors.append(
                        f"{name_of(so)}: the rabbitmq trigger must use protocol: http and count "
                        "unacknowledged messages, or KEDA scales in under running conversions"
                    )
                config = by_kind.get("ConfigMap", {}).get(CONFIG_MAP, {}).get("data", {})
                queue = config.get("MP3C_QUEUE__VIDEO_QUEUE", "video")
                if meta.get("queueName") != queue:
                    errors.append(
                        f"{name_of(so)}: queueName {meta.get('queueName')!r} is not the video "
                        f"queue {queue!r} (MP3C_QUEUE__VIDEO_QUEUE)"
                    )
    for (kind, name), scalers in owners.items():
        if kind != "Deployment":
            continue
        if name not in deployments:
            errors.append(f"{', '.join(scalers)}: scales deployment/{name}, which is not in the stream")
            continue
        if len(scalers) > 1:
            errors.append(f"deployment/{name} has several autoscalers: {', '.join(scalers)}")
        if "replicas" in deployments[name]["spec"]:
            errors.append(
                f"deployment/{name} sets spec.replicas but {scalers[0]} owns its replica count "
                "(each apply would reset it)"
            )
    return errors


def main():
    docs = [d for d in yaml.safe_load_all(sys.stdin) if d]
    failed = False
    builtin = []
    for doc in docs:
        if group_of(doc.get("apiVersion", "")) in BUILTIN_GROUPS:
            builtin.append(doc)
            continue
        errors = validate_custom(doc)
        for e in errors:
            print(f"ERROR {name_of(doc)} ({doc.get('apiVersion')}): {e}", file=sys.stderr)
        if errors:
            failed = True
        else:
            print(f"INFO {name_of(doc)} ({doc.get('apiVersion')}) passed its local schema", file=sys.stderr)
    for e in cross_check(docs):
        print(f"ERROR {e}", file=sys.stderr)
        failed = True
    yaml.safe_dump_all(builtin, sys.stdout, sort_keys=False)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
