#!/usr/bin/env python3
"""Production rules for the rendered manifests, checked offline by deploy/validate.sh.

    policy.py RENDER...     each RENDER is `kubectl kustomize` output, named after its overlay
                            (base.yaml, dev.yaml, prod.yaml, prod-migrate.yaml)

The schemas say a manifest is well formed; these rules say it is fit to run (issue 18, item 5):

  * the shared ConfigMap is generated, so its name carries a hash of its data (a change rolls
    the Deployments);
  * readiness probes wait longer than /readyz takes (its checks run concurrently, each cut at
    CHECK_TIMEOUT in crates/mp3converter/src/ops.rs); PDBs let unhealthy pods be evicted;
  * the Ingress routes the gateway's public paths and none of /healthz, /readyz, /metrics; every
    pod is annotated for Prometheus, which a NetworkPolicy lets in;
  * the converter's memory limit is above ffmpeg's address-space cap plus the process, and its
    disk request covers a 2 GiB upload plus its output;
  * egress is denied by default; DNS is allowed; in an overlay each role reaches its backends and
    nothing else: no rule open to the internet or the cloud metadata endpoint for a converter;
    cert-manager's HTTP-01 solver is reachable from the ingress controller;
  * each role mounts only the secrets it uses;
  * prod: the roles do not migrate, the prod-migrate Job does with the same image; the database
    pools at full scale (HPA/KEDA maximums) fit CONNECTION_BUDGET; the admin is not the dev one.

Prints one line per rule broken and exits 1, or says what it checked.
"""

import ipaddress
import pathlib
import re
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
GIB = 1 << 30
MIB = 1 << 20

# Connections the prod database accepts for mp3converter (a small managed instance allows ~170;
# the rest is left to the provider's own and to operators' sessions).
CONNECTION_BUDGET = 150
# The pool size when MP3C_DATABASE__MAX_CONNECTIONS is not set (MySQL/PostgreSQL).
DEFAULT_POOL = 10
# ffmpeg's address-space cap when MP3C_CONVERTER__ENGINE__FFMPEG_MAX_MEMORY_BYTES is not set.
DEFAULT_FFMPEG_CAP = 2 * GIB
# What the converter process needs beside ffmpeg (native engine, buffers, runtime).
CONVERTER_OVERHEAD = 512 * MIB
# The largest upload (MP3C_GATEWAY__MAX_UPLOAD_BYTES) and ffmpeg's largest output.
MAX_UPLOAD = 2 * GIB
MAX_OUTPUT = 2 * GIB
METADATA = ipaddress.ip_address("169.254.169.254")

# What each role mounts from mp3converter-secrets, exactly.
SECRETS = {
    "auth": {"database-url", "queue-url", "admin-password"},
    "gateway": {"database-url", "queue-url", "storage-access-key-id", "storage-secret-access-key"},
    "converter": {"database-url", "queue-url", "storage-access-key-id", "storage-secret-access-key"},
    "notifier": {"database-url", "queue-url", "mail-url"},
    "migrate": {"database-url"},
}
# The ports of each backend (dev: in-cluster pods; prod: managed services).
BACKEND_PORTS = {
    "database": {3306, 5432},
    "queue": {5671, 5672},
    "storage": {443, 9000},
    "mail": {25, 465, 587, 1025},
}
BACKENDS = {
    "auth": {"database", "queue"},
    "gateway": {"database", "queue", "storage"},
    "converter": {"database", "queue", "storage"},
    "notifier": {"database", "queue", "mail"},
}
# What every role's environment sets (the ConfigMap's core).
REQUIRED_SETTINGS = ["MP3C_SERVER__LISTEN", "MP3C_DATABASE__URL_FILE", "MP3C_QUEUE__BACKEND",
                     "MP3C_QUEUE__URL_FILE", "MP3C_STORAGE__BACKEND", "MP3C_AUTH__URL"]
PUBLIC_PATHS = ["/", "/assets/app.js", "/login", "/upload", "/download", "/api/v1/jobs"]
OPS_PATHS = ["/healthz", "/readyz", "/metrics"]

errors = []


def fail(render, what):
    errors.append(f"{render}: {what}")


def quantity(q):
    """Bytes of a Kubernetes quantity (512Mi, 2Gi, 1G, 1024)."""
    m = re.fullmatch(r"(\d+)(Ki|Mi|Gi|Ti|k|M|G|T)?", str(q))
    if not m:
        raise ValueError(f"cannot read the quantity {q!r}")
    unit = {None: 1, "Ki": 1 << 10, "Mi": MIB, "Gi": GIB, "Ti": 1 << 40,
            "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}[m.group(2)]
    return int(m.group(1)) * unit


def check_timeout_secs():
    text = (ROOT / "crates/mp3converter/src/ops.rs").read_text()
    m = re.search(r"const CHECK_TIMEOUT: .*from_secs\((\d+)\)", text)
    if not m:
        sys.exit("policy.py: CHECK_TIMEOUT not found in crates/mp3converter/src/ops.rs")
    return int(m.group(1))


def role(obj):
    return obj["metadata"].get("labels", {}).get("app.kubernetes.io/component")


def pod_spec(obj):
    return obj["spec"]["template"]["spec"]


def env_of(container, configmaps):
    """The container's environment: its ConfigMaps (envFrom), then its env (which wins)."""
    env = {}
    for src in container.get("envFrom", []):
        ref = src.get("configMapRef")
        if ref and ref["name"] in configmaps:
            env.update(configmaps[ref["name"]])
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = str(var["value"])
    return env


def selects(selector, labels):
    """Whether a NetworkPolicy podSelector (matchLabels only) selects a pod with `labels`."""
    if selector.get("matchExpressions"):
        return False
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


def path_matches(rule_path, path_type, path):
    if path_type == "Exact":
        return path == rule_path
    prefix = [p for p in rule_path.split("/") if p]
    parts = [p for p in path.split("/") if p]
    return parts[: len(prefix)] == prefix


def check(render, docs):
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    configmaps = {c["metadata"]["name"]: c.get("data", {}) for c in by_kind.get("ConfigMap", [])}
    deployments = by_kind.get("Deployment", [])
    jobs = [j for j in by_kind.get("Job", []) if j["metadata"].get("labels", {}).get(
        "app.kubernetes.io/name") == "mp3converter"]
    policies = by_kind.get("NetworkPolicy", [])
    ours = [d for d in deployments if d["metadata"].get("labels", {}).get(
        "app.kubernetes.io/name") == "mp3converter"]
    overlay = render not in ("base",)
    budget_secs = check_timeout_secs()

    # --- the ConfigMap is generated (hash suffix): a changed setting rolls the pods ---------
    for d in ours:
        for c in pod_spec(d)["containers"]:
            for src in c.get("envFrom", []):
                name = src.get("configMapRef", {}).get("name", "")
                if name and not re.fullmatch(r"mp3converter-config-[a-z0-9]{10}", name):
                    fail(render, f"{role(d)}: uses the ConfigMap {name}, not a generated "
                         "(hash-suffixed) one: a config change would restart nothing")

    # --- the shared settings are there (an empty env file generates an empty ConfigMap) --------
    for d in ours:
        for c in pod_spec(d)["containers"]:
            env = env_of(c, configmaps)
            missing = [k for k in REQUIRED_SETTINGS if k not in env]
            if missing:
                fail(render, f"{role(d)}: no {', '.join(missing)} in its environment")

    # --- readiness, PDBs ------------------------------------------------------------------
    for d in ours:
        for c in pod_spec(d)["containers"]:
            probe = c.get("readinessProbe")
            if not probe or probe.get("httpGet", {}).get("path") != "/readyz":
                fail(render, f"{role(d)}: no /readyz readiness probe")
            elif probe.get("timeoutSeconds", 1) <= budget_secs:
                fail(render, f"{role(d)}: readiness timeoutSeconds {probe.get('timeoutSeconds', 1)}"
                     f" is not above /readyz's {budget_secs} s")
    for pdb in by_kind.get("PodDisruptionBudget", []):
        if pdb["spec"].get("unhealthyPodEvictionPolicy") != "AlwaysAllow":
            fail(render, f"PodDisruptionBudget {pdb['metadata']['name']}: "
                 "unhealthyPodEvictionPolicy is not AlwaysAllow")

    # --- Ingress, metrics -----------------------------------------------------------------
    for ing in by_kind.get("Ingress", []):
        paths = [(p["path"], p["pathType"]) for r in ing["spec"]["rules"]
                 for p in r["http"]["paths"]]
        for path in OPS_PATHS:
            if any(path_matches(rp, t, path) for rp, t in paths):
                fail(render, f"Ingress {ing['metadata']['name']} routes {path}")
        for path in PUBLIC_PATHS:
            if not any(path_matches(rp, t, path) for rp, t in paths):
                fail(render, f"Ingress {ing['metadata']['name']} does not route {path}")
    for d in ours:
        notes = d["spec"]["template"]["metadata"].get("annotations", {})
        ports = {str(p["containerPort"]) for c in pod_spec(d)["containers"]
                 for p in c.get("ports", [])}
        if notes.get("prometheus.io/scrape") != "true" or notes.get("prometheus.io/port") not in ports:
            fail(render, f"{role(d)}: not annotated for Prometheus (prometheus.io/scrape, port)")
        labels = d["spec"]["template"]["metadata"]["labels"]
        if not any(selects(p["spec"]["podSelector"], labels)
                   and any(f.get("namespaceSelector", {}).get("matchLabels", {}).get(
                       "kubernetes.io/metadata.name") == "monitoring"
                       for rule in p["spec"].get("ingress", []) for f in rule.get("from", []))
                   for p in policies):
            fail(render, f"{role(d)}: no NetworkPolicy lets Prometheus (namespace monitoring) in")

    # --- the converter's memory and disk ----------------------------------------------------
    for d in ours:
        if role(d) != "converter":
            continue
        c = pod_spec(d)["containers"][0]
        env = env_of(c, configmaps)
        cap = int(env.get("MP3C_CONVERTER__ENGINE__FFMPEG_MAX_MEMORY_BYTES", DEFAULT_FFMPEG_CAP))
        limits, requests = c["resources"]["limits"], c["resources"]["requests"]
        if quantity(limits["memory"]) < cap + CONVERTER_OVERHEAD:
            fail(render, f"converter: memory limit {limits['memory']} is below ffmpeg's cap "
                 f"({cap} bytes) + {CONVERTER_OVERHEAD // MIB}Mi for the process")
        need = MAX_UPLOAD + MAX_OUTPUT
        disk = quantity(requests.get("ephemeral-storage", 0))
        if disk < need or quantity(limits.get("ephemeral-storage", 0)) < disk:
            fail(render, f"converter: ephemeral-storage request {disk} below a 2 GiB upload + "
                 "2 GiB output, or above the limit")
        tmp = [v for v in pod_spec(d)["volumes"] if v["name"] == "tmp"]
        if not tmp or quantity(tmp[0].get("emptyDir", {}).get("sizeLimit", 0)) < need:
            fail(render, "converter: the tmp volume holds less than a 2 GiB upload + output")

    # --- network policies -------------------------------------------------------------------
    def denies_all(p, kind):
        s = p["spec"]
        return (s["podSelector"] in ({}, None) and kind in s.get("policyTypes", [])
                and not s.get(kind.lower()))

    for kind in ("Ingress", "Egress"):
        if ours and not any(denies_all(p, kind) for p in policies):
            fail(render, f"no default-deny {kind.lower()} NetworkPolicy")
    if ours and not any(p["spec"]["podSelector"] in ({}, None) and any(
            any(pt.get("port") == 53 for pt in r.get("ports", [])) for r in p["spec"].get("egress", []))
            for p in policies):
        fail(render, "no NetworkPolicy allows DNS")
    solver = {"acme.cert-manager.io/http01-solver": "true"}
    if ours and not any(selects(p["spec"]["podSelector"], solver) and p["spec"]["podSelector"]
               and p["spec"].get("ingress") for p in policies):
        fail(render, "cert-manager's HTTP-01 solver pods are not let in")

    def egress_rules(labels):
        return [r for p in policies if selects(p["spec"]["podSelector"], labels)
                and "Egress" in p["spec"].get("policyTypes", []) for r in p["spec"].get("egress", [])]

    for d in ours + jobs:
        labels = d["spec"]["template"]["metadata"]["labels"]
        name = labels.get("app.kubernetes.io/component")
        rules = egress_rules(labels)
        for r in rules:
            if not r.get("to"):
                fail(render, f"{name}: an egress rule to anywhere")
            for peer in r.get("to", []):
                block = peer.get("ipBlock")
                if not block:
                    continue
                net = ipaddress.ip_network(block["cidr"])
                excepted = any(METADATA in ipaddress.ip_network(e) for e in block.get("except", [])
                               if ipaddress.ip_network(e).version == 4)
                if net.prefixlen == 0:
                    fail(render, f"{name}: egress to {block['cidr']} (the internet)")
                if net.version == 4 and METADATA in net and not excepted:
                    fail(render, f"{name}: egress reaches the metadata endpoint {METADATA}")
        if overlay and name in BACKENDS:
            open_ports = {pt.get("port") for r in rules for pt in r.get("ports", [])}
            for backend in sorted(BACKENDS[name]):
                if not open_ports & BACKEND_PORTS[backend]:
                    fail(render, f"{name}: no egress to its {backend}")
            for backend in sorted(set(BACKEND_PORTS) - BACKENDS[name]):
                extra = open_ports & BACKEND_PORTS[backend] - set().union(
                    *(BACKEND_PORTS[b] for b in BACKENDS[name]))
                if extra:
                    fail(render, f"{name}: egress to {backend} ports {sorted(extra)} it does not use")

    # --- secrets ------------------------------------------------------------------------------
    for d in ours + jobs:
        name = d["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/component")
        spec = pod_spec(d)
        for c in spec["containers"]:
            if any("secretRef" in s for s in c.get("envFrom", [])):
                fail(render, f"{name}: takes a whole Secret as environment")
        for v in spec.get("volumes", []):
            secret = v.get("secret")
            if not secret or secret["secretName"] != "mp3converter-secrets":
                continue
            keys = {i["key"] for i in secret.get("items", [])} if secret.get("items") else None
            if keys != SECRETS.get(name):
                fail(render, f"{name}: mounts {sorted(keys) if keys else 'every key'} of "
                     f"mp3converter-secrets, not {sorted(SECRETS.get(name, []))}")

    # --- prod: migrations, connection budget, admin -------------------------------------------
    if render == "prod":
        maxima = {}
        for hpa in by_kind.get("HorizontalPodAutoscaler", []):
            maxima[hpa["spec"]["scaleTargetRef"]["name"]] = hpa["spec"]["maxReplicas"]
        for so in by_kind.get("ScaledObject", []):
            maxima[so["spec"]["scaleTargetRef"]["name"]] = so["spec"]["maxReplicaCount"]
        total, terms = 0, []
        for d in ours:
            c = pod_spec(d)["containers"][0]
            env = env_of(c, configmaps)
            if env.get("MP3C_DATABASE__MIGRATE", "true") != "false":
                fail(render, f"{role(d)}: migrates at start (MP3C_DATABASE__MIGRATE is not false)")
            if "MP3C_DATABASE__MAX_CONNECTIONS" not in env:
                fail(render, f"{role(d)}: no MP3C_DATABASE__MAX_CONNECTIONS (default {DEFAULT_POOL})")
            pool = int(env.get("MP3C_DATABASE__MAX_CONNECTIONS", DEFAULT_POOL))
            pods = maxima.get(d["metadata"]["name"], d["spec"].get("replicas", 1))
            total += pool * pods
            terms.append(f"{role(d)} {pods}x{pool}")
            if "MP3C_ADMIN_EMAIL" in env and env["MP3C_ADMIN_EMAIL"].endswith(".local"):
                fail(render, f"{role(d)}: the dev admin email {env['MP3C_ADMIN_EMAIL']}")
        total += MIGRATE_POOL
        terms.append(f"migrate 1x{MIGRATE_POOL}")
        if total > CONNECTION_BUDGET:
            fail(render, f"database connections at full scale {' + '.join(terms)} = {total} "
                 f"> {CONNECTION_BUDGET}")
        print(f"prod: database connections at full scale: {' + '.join(terms)} = {total} "
              f"<= {CONNECTION_BUDGET}")
        global PROD_IMAGES
        PROD_IMAGES = {c["image"] for d in ours for c in pod_spec(d)["containers"]}
    if render == "prod-migrate":
        if not any(pod_spec(j)["containers"][0].get("args") == ["migrate"] for j in jobs):
            fail(render, "no Job runs `mp3converter migrate`")
        for j in jobs:
            pool = env_of(pod_spec(j)["containers"][0], configmaps).get("MP3C_DATABASE__MAX_CONNECTIONS")
            if pool != str(MIGRATE_POOL):
                fail(render, f"the migrate Job's pool is {pool}, the budget counts {MIGRATE_POOL}")
        images = {c["image"] for j in jobs for c in pod_spec(j)["containers"]}
        if PROD_IMAGES is not None and images != PROD_IMAGES:
            fail(render, f"the migrate Job's image {sorted(images)} is not prod's {sorted(PROD_IMAGES)}")


PROD_IMAGES = None
MIGRATE_POOL = 2


def main(paths):
    # prod before prod-migrate (the Job's image is compared with prod's).
    for path in sorted(paths, key=lambda p: pathlib.Path(p).stem):
        render = pathlib.Path(path).stem
        docs = [d for d in yaml.safe_load_all(open(path)) if d]
        check(render, docs)
    for e in errors:
        print(f"POLICY: {e}", file=sys.stderr)
    if errors:
        sys.exit(1)
    print(f"policy: {', '.join(pathlib.Path(p).stem for p in paths)}: every rule holds")


if __name__ == "__main__":
    main(sys.argv[1:])
