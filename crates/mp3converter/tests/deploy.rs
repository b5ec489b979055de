//! The files in `deploy/` (Dockerfile, compose.yaml, Kubernetes manifests) agree with the binary:
//! every `MP3C_*` variable they name is a configuration key and every value they set loads; the
//! command lines they run parse with the binary's CLI and name real roles; shutdown grace periods
//! fit inside the orchestrator's; the Ingress' limits match the gateway's.
//!
//! The files are read as text (no YAML parser: the shapes used in `deploy/` are few and regular,
//! and each check asserts it found what it looks for, so a shape it cannot read fails loudly).
//! Their schemas are checked by `deploy/validate.sh`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use clap::Parser;
use mp3converter::cli::Cli;
use mp3converter::config::{self, Overrides, Role};

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

/// Every text file under `deploy/`, relative path → contents.
fn deploy_files() -> BTreeMap<String, String> {
    fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, root, out);
            } else if let Ok(text) = std::fs::read_to_string(&path) {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, text);
            }
        }
    }
    let mut files = BTreeMap::new();
    walk(&deploy_dir(), &deploy_dir(), &mut files);
    assert!(files.contains_key("Dockerfile") && files.contains_key("compose.yaml"));
    files
}

/// Kubernetes manifests: the `.yaml` files under `deploy/k8s`.
fn k8s_files(files: &BTreeMap<String, String>) -> impl Iterator<Item = (&String, &String)> {
    files
        .iter()
        .filter(|(p, _)| p.starts_with("k8s/") && p.ends_with(".yaml"))
}

/// The `MP3C_*` names in a text (a trailing `_` or a following `<`/`*`, as in `MP3C_<KEY>`, is
/// a placeholder in prose, not a name).
fn mp3c_names(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("MP3C_") {
        let tail = &rest[i..];
        let len = tail
            .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        let name = &tail[..len];
        if name.len() > "MP3C_".len() && !name.ends_with('_') {
            names.push(name.to_string());
        }
        rest = &tail[len..];
    }
    names
}

/// A YAML scalar as written: quotes and a trailing ` # comment` removed.
fn scalar(raw: &str) -> String {
    let raw = raw.trim();
    for quote in ['"', '\''] {
        if let Some(inner) = raw.strip_prefix(quote).and_then(|r| r.split(quote).next()) {
            return inner.to_string();
        }
    }
    raw.split(" #")
        .next()
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// The `MP3C_*` variables a file sets, in order, in the three shapes `deploy/` uses:
/// `MP3C_X: value` (ConfigMap data, compose environment), `- name: MP3C_X` + `value: v`
/// (container env; `valueFrom:` is skipped), `MP3C_X=value` (Dockerfile ENV, the kustomize env
/// file of the ConfigMap).
fn assignments(text: &str) -> Vec<(String, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim().trim_start_matches("ENV ").trim_start();
        if t.starts_with('#') {
            continue;
        }
        if let Some(name) = t.strip_prefix("- name: ").map(scalar)
            && name.starts_with("MP3C_")
        {
            let next = lines[i + 1..]
                .iter()
                .map(|l| l.trim())
                .find(|l| !l.starts_with('#'))
                .unwrap_or_default();
            if next.starts_with("valueFrom:") {
                continue; // from a Secret or ConfigMap: only the name can be checked
            }
            let value = next
                .strip_prefix("value: ")
                .unwrap_or_else(|| panic!("`- name: {name}` without a `value:` on the next line"));
            out.push((name, scalar(value)));
        } else if t.starts_with("MP3C_") {
            let is_name = |n: &str| n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            let (name, value) = t
                .split_once('=')
                .filter(|(n, _)| is_name(n))
                .or_else(|| t.split_once(": "))
                .unwrap_or_else(|| panic!("cannot read the assignment `{t}`"));
            let value = value.trim_end_matches('\\').trim();
            out.push((name.trim().to_string(), scalar(value)));
        }
    }
    out
}

#[test]
fn every_mp3c_variable_in_deploy_is_a_configuration_key() {
    let files = deploy_files();
    let mut seen = BTreeSet::new();
    for (path, text) in &files {
        for name in mp3c_names(text) {
            assert!(
                config::is_known_env_var(&name),
                "deploy/{path}: {name} is not a configuration key (see mp3converter.example.toml)"
            );
            seen.insert(name);
        }
    }
    // The scan reads what it should: the settings every deployment needs are among them.
    for name in [
        "MP3C_SERVER__LISTEN",
        "MP3C_DATABASE__URL_FILE",
        "MP3C_QUEUE__URL",
        "MP3C_STORAGE__SECRET_ACCESS_KEY_FILE",
        "MP3C_MAIL__URL_FILE",
        "MP3C_AUTH__URL",
        "MP3C_PUBLIC_URL",
        "MP3C_SERVER__SHUTDOWN_GRACE_SECS",
    ] {
        assert!(seen.contains(name), "{name} not found in deploy/");
    }
    // And the check can fail.
    assert!(!config::is_known_env_var("MP3C_QUEUE__BAKEND"));
    assert!(!config::is_known_env_var("MP3C_QUEUE__BACKEND_FILES"));
    assert!(config::is_known_env_var("MP3C_MAIL__URL_FILE"));
}

/// Loads the configuration from `vars`, each `*_FILE` pointing at a file with a placeholder.
fn load(vars: &[(String, String)]) -> Result<(config::Config, Vec<String>), String> {
    let dir = tempfile::tempdir().unwrap();
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(name, value)| {
            if !name.ends_with("_FILE") {
                return (name.clone(), value.clone());
            }
            let file = dir.path().join(name);
            std::fs::write(
                &file,
                "placeholder-secret-of-at-least-32-bytes-0123456789\n",
            )
            .unwrap();
            (name.clone(), file.to_string_lossy().into_owned())
        })
        .collect();
    config::load_from(None, &vars, &Overrides::default()).map_err(|e| e.to_string())
}

#[test]
fn every_value_set_in_deploy_loads() {
    let files = deploy_files();
    let mut checked = 0;
    for (path, text) in &files {
        if !(path == "Dockerfile" || path.ends_with(".yaml") || path.ends_with(".env")) {
            continue;
        }
        let set = assignments(text);
        // Each value in the context of the file's others (a later one wins, as in an env).
        for (name, value) in &set {
            let mut vars: BTreeMap<String, String> = set.iter().cloned().collect();
            vars.insert(name.clone(), value.clone());
            let vars: Vec<(String, String)> = vars.into_iter().collect();
            let (_, warnings) =
                load(&vars).unwrap_or_else(|e| panic!("deploy/{path} (with {name}={value}): {e}"));
            assert!(warnings.is_empty(), "deploy/{path}: {warnings:?}");
            checked += 1;
        }
    }
    assert!(checked >= 40, "only {checked} values found");
    // The loader refuses what it should, so this test can fail.
    let bad = [(
        "MP3C_GATEWAY__MAX_UPLOAD_BYTES".to_string(),
        "2GiB".to_string(),
    )];
    assert!(load(&bad).is_err());
}

/// The items of a flow sequence of double-quoted strings: `["serve", "--roles", "auth"]`.
fn flow_items(line: &str) -> Option<Vec<String>> {
    let inner = line.get(line.find('[')? + 1..line.rfind(']')?)?;
    inner
        .split(',')
        .map(|item| {
            let item = item.trim();
            item.strip_prefix('"')?
                .strip_suffix('"')
                .map(str::to_string)
        })
        .collect()
}

fn is_our_image(image: &str) -> bool {
    let name = image.rsplit('/').next().unwrap_or_default();
    name.split(':').next() == Some("mp3converter")
}

/// The command lines of our image in a file, as full argv (`mp3converter …`). A list belongs to
/// our image when it starts with `mp3converter` (health checks) or follows an `image:` of ours
/// (or compose's `<<: *mp3converter`, or the Dockerfile's ENTRYPOINT).
fn our_command_lines(text: &str, dockerfile: bool) -> Vec<Vec<String>> {
    let mut ours = dockerfile;
    let mut argvs = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('#') {
            continue;
        }
        if let Some(image) = t.strip_prefix("image: ") {
            ours = is_our_image(&scalar(image));
        } else if t == "<<: *mp3converter" {
            ours = true;
        }
        let is_command = ["CMD ", "command:", "args:", "test:"]
            .iter()
            .any(|p| t.starts_with(p) || t.starts_with(&format!("HEALTHCHECK {p}")));
        let Some(mut items) = flow_items(t).filter(|_| is_command) else {
            continue;
        };
        if items.first().is_some_and(|i| i.starts_with("CMD")) {
            items.remove(0);
        }
        if items.first().map(String::as_str) == Some("mp3converter") {
            argvs.push(items);
        } else if ours && !t.starts_with("test:") {
            argvs.push(
                std::iter::once("mp3converter".to_string())
                    .chain(items)
                    .collect(),
            );
        }
    }
    argvs
}

/// Parses each command line with the binary's CLI; returns the roles `serve` runs.
fn parse_command_lines(path: &str, argvs: &[Vec<String>]) -> BTreeSet<Role> {
    let mut roles = BTreeSet::new();
    for argv in argvs {
        let cli = Cli::try_parse_from(argv)
            .unwrap_or_else(|e| panic!("deploy/{path}: `{}` does not parse: {e}", argv.join(" ")));
        if let Some(parsed) = cli.serve_roles() {
            roles.extend(parsed.iter());
        }
    }
    roles
}

#[test]
fn the_command_lines_in_deploy_parse_and_run_every_role() {
    let files = deploy_files();
    let all: BTreeSet<Role> = Role::ALL.into_iter().collect();

    let docker = our_command_lines(&files["Dockerfile"], true);
    assert!(
        docker.iter().any(|a| a[1] == "healthcheck") && docker.iter().any(|a| a[1] == "serve"),
        "{docker:?}"
    );
    assert_eq!(parse_command_lines("Dockerfile", &docker), all);

    let compose = our_command_lines(&files["compose.yaml"], false);
    assert_eq!(parse_command_lines("compose.yaml", &compose), all);

    let mut k8s_roles = BTreeSet::new();
    for (path, text) in k8s_files(&files) {
        let argvs = our_command_lines(text, false);
        k8s_roles.extend(parse_command_lines(path, &argvs));
    }
    assert_eq!(k8s_roles, all);

    // The parser can refuse: a misspelt role, a flag that does not exist.
    // An unknown role is refused by the command line parser itself.
    let bad = |args: &[&str]| Cli::try_parse_from(args).is_err();
    assert!(bad(&["mp3converter", "serve", "--roles", "convertor"]));
    assert!(bad(&["mp3converter", "serve", "--role", "auth"]));
}

#[test]
fn the_dockerfile_health_check_probes_the_port_the_image_listens_on() {
    let files = deploy_files();
    let dockerfile = &files["Dockerfile"];
    let listen = assignments(dockerfile)
        .into_iter()
        .find(|(n, _)| n == "MP3C_SERVER__LISTEN")
        .map(|(_, v)| v)
        .expect("the Dockerfile sets MP3C_SERVER__LISTEN");
    let port = listen.rsplit(':').next().unwrap();
    let probe = our_command_lines(dockerfile, true)
        .into_iter()
        .find(|a| a[1] == "healthcheck")
        .unwrap();
    assert!(
        probe[2].starts_with(&format!("http://127.0.0.1:{port}/")),
        "{probe:?} vs {listen}"
    );
    assert!(dockerfile.contains(&format!("EXPOSE {port}")));
}

/// `320s`, `5m`, `1m30s` → seconds.
fn duration_secs(s: &str) -> u64 {
    let mut total = 0;
    let mut number = String::new();
    for c in s.chars() {
        match c {
            '0'..='9' => number.push(c),
            'h' | 'm' | 's' => {
                let n: u64 = number.parse().unwrap();
                total += n * match c {
                    'h' => 3600,
                    'm' => 60,
                    _ => 1,
                };
                number.clear();
            }
            _ => panic!("cannot read the duration {s:?}"),
        }
    }
    assert!(number.is_empty(), "no unit in {s:?}");
    total
}

fn grace_of(path: &str, block: &str) -> u64 {
    assignments(block)
        .into_iter()
        .find(|(n, _)| n == "MP3C_SERVER__SHUTDOWN_GRACE_SECS")
        .unwrap_or_else(|| panic!("deploy/{path}: sets no MP3C_SERVER__SHUTDOWN_GRACE_SECS"))
        .1
        .parse()
        .unwrap()
}

fn field<'a>(block: &'a str, key: &str) -> Option<&'a str> {
    block
        .lines()
        .find_map(|l| l.trim().strip_prefix(key))
        .map(str::trim)
}

#[test]
fn orchestrators_wait_longer_than_the_shutdown_grace() {
    let files = deploy_files();
    // Kubernetes: SIGTERM comes after preStop; then the process has its grace to drain and
    // a margin to hand back what it could not finish before SIGKILL.
    let mut checked = 0;
    for (path, text) in k8s_files(&files) {
        let Some(termination) = field(text, "terminationGracePeriodSeconds:") else {
            continue;
        };
        if text.contains("kind: StatefulSet") {
            continue; // the dev backends, not our binary
        }
        let termination: u64 = termination.parse().unwrap();
        let grace = grace_of(path, text);
        let pre_stop: u64 = text
            .find("preStop:")
            .and_then(|i| field(&text[i..], "seconds:"))
            .map_or(0, |s| s.parse().unwrap());
        assert!(
            termination >= pre_stop + grace + 5,
            "deploy/{path}: terminationGracePeriodSeconds {termination} < preStop {pre_stop} + \
             MP3C_SERVER__SHUTDOWN_GRACE_SECS {grace} + 5"
        );
        checked += 1;
    }
    assert!(checked >= 5, "{checked} Deployments checked");

    // Compose: per service, stop_grace_period against the service's grace.
    let mut checked = 0;
    for block in compose_services(&files["compose.yaml"]) {
        if let Some(stop) = field(&block, "stop_grace_period:") {
            let grace = grace_of("compose.yaml", &block);
            assert!(
                duration_secs(stop) >= grace + 5,
                "deploy/compose.yaml: stop_grace_period {stop} < grace {grace} + 5 in {block}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 4, "auth, gateway, converter, notifier");
}

/// The text of each service under `services:` of a compose file.
fn compose_services(compose: &str) -> Vec<String> {
    let mut blocks: Vec<String> = Vec::new();
    let mut inside = false;
    for line in compose.lines() {
        if !line.starts_with(' ') && !line.is_empty() && !line.starts_with('#') {
            inside = line == "services:";
        } else if inside && line.starts_with("  ") && !line.starts_with("   ") {
            blocks.push(String::new());
        }
        if inside && let Some(block) = blocks.last_mut() {
            block.push_str(line);
            block.push('\n');
        }
    }
    blocks
}

/// nginx sizes: `2100m` → bytes.
fn nginx_size(s: &str) -> u64 {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = n.parse().unwrap();
    n * match unit {
        "" => 1,
        "k" | "K" => 1 << 10,
        "m" | "M" => 1 << 20,
        "g" | "G" => 1 << 30,
        other => panic!("unknown nginx size unit {other:?}"),
    }
}

#[test]
fn the_ingress_limits_match_the_gateway_config() {
    let files = deploy_files();
    let ingress = &files["k8s/base/ingress.yaml"];
    let annotation = |name: &str| {
        scalar(
            field(ingress, &format!("nginx.ingress.kubernetes.io/{name}:"))
                .unwrap_or_else(|| panic!("no {name} annotation")),
        )
    };
    let shared = assignments(&files["k8s/base/config.env"]);
    assert!(
        shared
            .iter()
            .any(|(n, _)| n == "MP3C_GATEWAY__MAX_UPLOAD_BYTES"),
        "k8s/base/config.env sets no upload limit: {shared:?}"
    );
    let (gateway, _) = load(&shared).unwrap();
    let gateway = gateway.gateway;

    // The gateway refuses a too-big upload itself (a JSON 413); nginx only backs it up, a
    // little above (multipart framing), and is never unlimited.
    let body = nginx_size(&annotation("proxy-body-size"));
    assert!(
        body > gateway.max_upload_bytes,
        "{body} ≤ the gateway's limit"
    );
    assert!(
        body <= gateway.max_upload_bytes + gateway.max_upload_bytes / 10,
        "proxy-body-size {body} is far above the gateway's {}",
        gateway.max_upload_bytes
    );
    assert_eq!(annotation("proxy-request-buffering"), "off");

    // nginx must not cut a request the gateway is still allowed to answer, nor an idle SSE
    // stream between two keep-alives.
    for name in ["proxy-read-timeout", "proxy-send-timeout"] {
        let secs: u64 = annotation(name).parse().unwrap();
        assert!(secs > gateway.request_timeout_secs, "{name} {secs}");
        assert!(secs > gateway.sse_keepalive_secs, "{name} {secs}");
    }
}

#[test]
fn compose_publishes_ports_on_this_machine_only() {
    let files = deploy_files();
    let mut published = Vec::new();
    for service in compose_services(&files["compose.yaml"]) {
        let mut in_ports = false;
        for line in service.lines() {
            let t = line.trim();
            if t.starts_with('#') {
                continue;
            }
            if let Some(item) = t.strip_prefix("- ").filter(|_| in_ports) {
                published.push(scalar(item));
            } else {
                in_ports = t == "ports:";
            }
        }
    }
    // The scan reads what it should: the gateway is published (DESIGN §13: on 127.0.0.1:8080).
    assert!(
        published.iter().any(|p| p == "127.0.0.1:8080:8080"),
        "{published:?}"
    );
    for port in &published {
        assert!(
            port.starts_with("127.0.0.1:"),
            "deploy/compose.yaml publishes {port} on every interface (dev-only passwords)"
        );
    }
}

/// Kubernetes memory quantities: `2Gi` → bytes.
fn k8s_bytes(s: &str) -> u64 {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = n.parse().unwrap();
    n * match unit {
        "" => 1,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        other => panic!("unknown quantity unit {other:?}"),
    }
}

#[test]
fn the_converter_memory_limit_is_above_the_ffmpeg_cap_it_sets() {
    let files = deploy_files();
    let manifest = &files["k8s/base/converter.yaml"];
    let mut vars = assignments(&files["k8s/base/config.env"]);
    assert!(vars.len() > 10, "k8s/base/config.env: {vars:?}");
    vars.extend(assignments(manifest));
    let (config, _) = load(&vars).unwrap();
    let cap = config.converter.engine.ffmpeg_max_memory_bytes;
    let limits = &manifest[manifest.find("limits:").expect("no limits:")..];
    let limit = k8s_bytes(&scalar(field(limits, "memory:").expect("no memory limit")));
    // ffmpeg fails its job at its cap before the pod's limit is reached: the process beside it
    // (native engine, buffers, runtime) needs 512 MiB.
    assert!(
        cap + (512 << 20) <= limit,
        "ffmpeg's cap {cap} + 512 MiB is above the converter's memory limit {limit}"
    );
    // The setting is the converter's own, not the default 2 GiB cap.
    assert!(cap < 2 << 30, "{cap}");
}
