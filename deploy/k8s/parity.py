#!/usr/bin/env python3
"""Compose and the Kubernetes base describe the same processes (issue 18, item 4).

    parity.py BASE_RENDER COMPOSE_FILE DOCKERFILE

For each role, deploy/compose.yaml's service and the kustomize base's Deployment must agree on:

  * the command line (compose `command` = the container's `args`);
  * the environment, after the image's own ENV: the same MP3C_* keys (a secret given as a file
    on Kubernetes, `X_FILE`, counts as `X`), with the same values except where a value names a
    backend or a credential of the environment (BACKEND_VALUES); a key set on one side only must
    be listed in ONE_SIDED, with the reason;
  * the port: the one compose's healthcheck probes is the container port and the listen port;
  * the probe: compose's healthcheck probes the path of the readiness probe;
  * the user: the image's USER is the pod's runAsUser:runAsGroup;
  * the lockdown: read_only = readOnlyRootFilesystem, cap_drop ALL = capabilities drop ALL,
    no-new-privileges = allowPrivilegeEscalation false;
  * the volumes: every writable mount of the pod is a volume of the compose service; compose's
    other volumes are listed in ONE_SIDED_VOLUMES;
  * the limits: compose's mem_limit and cpus are the container's memory and CPU limits.

Prints what differs and exits 1, or one line per role.
"""

import re
import sys

import yaml

ROLES = ["auth", "gateway", "converter", "notifier"]

# Values that say where the backends are and how to log in to them: compose runs its own
# (MariaDB, RabbitMQ, MinIO, Mailpit on the compose network) and the base names placeholders
# for the overlays.
BACKEND_VALUES = {
    "MP3C_DATABASE__URL", "MP3C_QUEUE__URL", "MP3C_STORAGE__BUCKET", "MP3C_STORAGE__REGION",
    "MP3C_STORAGE__ACCESS_KEY_ID", "MP3C_STORAGE__SECRET_ACCESS_KEY", "MP3C_MAIL__URL",
    "MP3C_MAIL__FROM", "MP3C_PUBLIC_URL", "MP3C_LOG", "MP3C_ADMIN_EMAIL", "MP3C_ADMIN_PASSWORD",
}
# Keys set on one side only, and why.
ONE_SIDED = {
    # compose's S3 is MinIO; the base's is AWS (the dev overlay sets both for its MinIO).
    "MP3C_STORAGE__ENDPOINT": "compose's MinIO",
    "MP3C_STORAGE__PATH_STYLE": "compose's MinIO",
    # On Kubernetes every auth replica signs with the key of a Secret; compose's one auth keeps
    # the key it creates on its data volume (the default path).
    "MP3C_AUTH__KEY_PATH": "Kubernetes mounts the signing key from a Secret",
    # Pods reach the gateway through ingress-nginx and auth through the gateway; on compose the
    # gateway is reached directly (no proxy to trust), auth through the gateway.
    "MP3C_SERVER__TRUSTED_PROXIES": "the gateway has a proxy in front on Kubernetes only",
    # TMPDIR=/tmp is the default; the manifests say it next to the /tmp volume.
    "TMPDIR": "the default, written out on Kubernetes",
}
# compose volumes without a counterpart in the pod: (role, container path) → why.
ONE_SIDED_VOLUMES = {
    ("auth", "/var/lib/mp3converter"): "compose's auth keeps its generated signing key",
}

errors = []


def fail(role, what):
    errors.append(f"{role}: {what}")


def image_env(dockerfile):
    """The ENV of the Dockerfile's last stage (`ENV A=1 \\ B=2` continued lines)."""
    stage = dockerfile.split("\nFROM ")[-1]
    env, lines = {}, stage.replace("\\\n", " ").splitlines()
    for line in lines:
        if line.startswith("ENV "):
            for name, value in re.findall(r"(\w+)=(\S+)", line[4:]):
                env[name] = value
    user = next((line.split()[1] for line in lines if line.startswith("USER ")), None)
    return env, user


def k8s_quantity(q):
    """Memory (`512Mi`, `2Gi`) in bytes, CPU (`500m`, `"2"`) in cores."""
    q = str(q)
    units = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "m": 0.001}
    for unit, factor in units.items():
        if q.endswith(unit):
            return float(q[: -len(unit)]) * factor
    return float(q)


def compose_bytes(v):
    """Compose's byte values (`512m`, `1g`; docker's units are binary)."""
    m = re.fullmatch(r"(\d+)([bkmg]?)", str(v).lower())
    if not m:
        return None
    return int(m.group(1)) * {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[m.group(2)]


def normalized(env):
    return {(k[: -len("_FILE")] if k.endswith("_FILE") else k): str(v) for k, v in env.items()
            if k.startswith("MP3C_") or k == "TMPDIR"}


def main(base_path, compose_path, dockerfile_path):
    docs = [d for d in yaml.safe_load_all(open(base_path)) if d]
    compose = yaml.safe_load(open(compose_path))
    base_env, image_user = image_env(open(dockerfile_path).read())
    configmaps = {d["metadata"]["name"]: d.get("data", {}) for d in docs if d["kind"] == "ConfigMap"}
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}

    for role in ROLES:
        svc = compose["services"][role]
        pod = deployments[role]["spec"]["template"]["spec"]
        c = pod["containers"][0]

        if svc.get("command") != c.get("args"):
            fail(role, f"command {svc.get('command')} ≠ args {c.get('args')}")

        k8s = dict(base_env)
        for src in c.get("envFrom", []):
            k8s.update(configmaps[src["configMapRef"]["name"]])
        for var in c.get("env", []):
            k8s[var["name"]] = var.get("value")
        dc = dict(base_env)
        dc.update(svc.get("environment") or {})
        k8s, dc = normalized(k8s), normalized(dc)
        for key in sorted(set(k8s) | set(dc)):
            if key in k8s and key in dc:
                if k8s[key] != dc[key] and key not in BACKEND_VALUES and key not in ONE_SIDED:
                    fail(role, f"{key}: compose {dc[key]!r}, Kubernetes {k8s[key]!r}")
            elif key not in ONE_SIDED:
                side = "compose" if key in dc else "Kubernetes"
                fail(role, f"{key} is set on {side} only")

        listen_port = k8s.get("MP3C_SERVER__LISTEN", "").rsplit(":", 1)[-1]
        ports = {str(p["containerPort"]) for p in c.get("ports", [])}
        test = " ".join(svc.get("healthcheck", {}).get("test", []))
        m = re.search(r"http://[^:/]+:(\d+)(/\S*)", test)
        if not m:
            fail(role, f"no HTTP healthcheck in compose ({test!r})")
        else:
            port, path = m.groups()
            if port not in ports or port != listen_port:
                fail(role, f"compose probes port {port}; the pod listens on {sorted(ports)} "
                     f"(MP3C_SERVER__LISTEN port {listen_port})")
            ready = c.get("readinessProbe", {}).get("httpGet", {}).get("path")
            if path != ready:
                fail(role, f"compose's healthcheck probes {path}, the readiness probe {ready}")

        sc = pod.get("securityContext", {})
        user = svc.get("user", image_user)
        if user != f"{sc.get('runAsUser')}:{sc.get('runAsGroup')}":
            fail(role, f"compose runs as {user}, the pod as {sc.get('runAsUser')}:{sc.get('runAsGroup')}")
        csc = c.get("securityContext", {})
        if bool(svc.get("read_only")) != bool(csc.get("readOnlyRootFilesystem")):
            fail(role, "read_only ≠ readOnlyRootFilesystem")
        if ("ALL" in (svc.get("cap_drop") or [])) != ("ALL" in csc.get("capabilities", {}).get("drop", [])):
            fail(role, "cap_drop ALL ≠ capabilities drop ALL")
        nnp = any(o.replace("=", ":") == "no-new-privileges:true" for o in svc.get("security_opt") or [])
        if nnp != (csc.get("allowPrivilegeEscalation") is False):
            fail(role, "no-new-privileges ≠ allowPrivilegeEscalation false")

        compose_paths = {v.split(":")[1] if ":" in v else v for v in svc.get("volumes") or []}
        compose_paths |= set(svc.get("tmpfs") or [])
        writable = {m["mountPath"] for m in c.get("volumeMounts", []) if not m.get("readOnly")}
        for path in sorted(writable - compose_paths):
            fail(role, f"the pod writes to {path}, compose has no volume there")
        for path in sorted(compose_paths - writable):
            if (role, path) not in ONE_SIDED_VOLUMES:
                fail(role, f"compose mounts {path}, the pod does not")
        limits = c.get("resources", {}).get("limits", {})
        if compose_bytes(svc.get("mem_limit")) != k8s_quantity(limits.get("memory", 0)):
            fail(role, f"mem_limit {svc.get('mem_limit')} ≠ the memory limit {limits.get('memory')}")
        if float(svc.get("cpus") or 0) != k8s_quantity(limits.get("cpu", 0)):
            fail(role, f"cpus {svc.get('cpus')} ≠ the CPU limit {limits.get('cpu')}")
        if not errors:
            print(f"parity: {role}: command, {len(set(k8s) & set(dc))} settings, port {listen_port}, "
                  f"probe, user {user}, lockdown, volumes, limits {svc.get('mem_limit')} "
                  f"{svc.get('cpus')} CPU agree")

    for e in errors:
        print(f"PARITY: {e}", file=sys.stderr)
    if errors:
        sys.exit(1)


if __name__ == "__main__":
    main(*sys.argv[1:])
