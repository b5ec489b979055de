//! Loading and validating [`Config`]: defaults, file, environment, `*_FILE` secrets.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};

use super::Config;

/// The reference configuration: every key with its default, commented.
pub const REFERENCE: &str = include_str!("../../../../mp3converter.example.toml");

/// Prefix of every environment variable the service reads.
pub const ENV_PREFIX: &str = "MP3C_";

/// Environment variables that are not configuration keys but are still ours (`MP3C_CONFIG` is
/// the `--config` flag's variable; `MP3C_LAME_CPU=baseline` is read by the LAME binding, which
/// then skips its AVX2 copy).
const OTHER_ENV: &[&str] = &["MP3C_LOG", "MP3C_CONFIG", "MP3C_LAME_CPU"];

/// Every configuration key (`section.key`), read from the reference file.
pub static KNOWN_KEYS: LazyLock<BTreeSet<String>> = LazyLock::new(|| keys_of(REFERENCE));

/// Why the configuration was refused; names the key and the reason.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file, an environment value or a `*_FILE` secret could not be read or parsed.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// The `section.key` names in a TOML text, including commented-out `# key = value` lines.
fn keys_of(toml_text: &str) -> BTreeSet<String> {
    let mut section = String::new();
    let mut keys = BTreeSet::new();
    for line in toml_text.lines() {
        let line = line.trim().trim_start_matches('#').trim();
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.trim().to_string();
        } else if let Some((key, _)) = line.split_once('=') {
            let key = key.trim();
            if !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                keys.insert(if section.is_empty() {
                    key.to_string()
                } else {
                    format!("{section}.{key}")
                });
            }
        }
    }
    keys
}

/// The configuration key an environment variable names (`MP3C_QUEUE__BACKEND` → `queue.backend`).
pub fn env_key(var: &str) -> Option<String> {
    var.strip_prefix(ENV_PREFIX)
        .map(|rest| rest.to_ascii_lowercase().replace("__", "."))
}

/// Whether the service reads the environment variable `var`: a configuration key, the `_FILE`
/// variant of one, or one of the few other `MP3C_*` variables (`MP3C_LOG`, `MP3C_CONFIG`,
/// `MP3C_LAME_CPU`).
pub fn is_known_env_var(var: &str) -> bool {
    if OTHER_ENV.contains(&var) {
        return true;
    }
    let Some(key) = env_key(var) else {
        return false;
    };
    KNOWN_KEYS.contains(&key)
        || key
            .strip_suffix("_file")
            .is_some_and(|base| KNOWN_KEYS.contains(base))
}

/// Command-line values that override every other source.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--listen`.
    pub listen: Option<String>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--roles`.
    pub roles: Option<String>,
}

/// Loads the configuration from `file` (if given), the process environment and `overrides`.
/// Unknown `MP3C_*` variables are reported in the returned warnings (a misspelt name would
/// otherwise be silently ignored).
pub fn load(
    file: Option<&Path>,
    overrides: &Overrides,
) -> Result<(Config, Vec<String>), ConfigError> {
    let vars: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| k.starts_with(ENV_PREFIX))
        .collect();
    load_from(file, &vars, overrides)
}

/// [`load`] with an explicit environment (tests).
pub fn load_from(
    file: Option<&Path>,
    vars: &[(String, String)],
    overrides: &Overrides,
) -> Result<(Config, Vec<String>), ConfigError> {
    let mut figment = Figment::from(Serialized::defaults(serde_json::json!({})));
    if let Some(path) = file {
        if !path.exists() {
            return Err(ConfigError::Invalid(format!(
                "config file {} does not exist",
                path.display()
            )));
        }
        figment = figment.merge(Toml::file(path));
    }
    let mut warnings = Vec::new();
    let mut secrets = Vec::new();
    for (var, value) in vars {
        if OTHER_ENV.contains(&var.as_str()) {
            continue;
        }
        let Some(key) = env_key(var) else { continue };
        if let Some(base) = key
            .strip_suffix("_file")
            .filter(|b| KNOWN_KEYS.contains(*b))
        {
            let secret = std::fs::read_to_string(value)
                .map_err(|e| ConfigError::Invalid(format!("{var}: cannot read {value}: {e}")))?;
            secrets.push((
                base.to_string(),
                secret.trim_end_matches(['\n', '\r']).to_string(),
            ));
        } else if !KNOWN_KEYS.contains(&key) {
            warnings.push(format!(
                "{var} is not a configuration key and is ignored (see mp3converter.example.toml)"
            ));
        }
    }
    figment = figment.merge(Serialized::defaults(env_map(vars)));
    for (key, value) in secrets {
        figment = figment.merge((key, value));
    }
    if let Some(listen) = &overrides.listen {
        figment = figment.merge(("server.listen", listen));
    }
    if let Some(dir) = &overrides.data_dir {
        figment = figment.merge(("data_dir", dir));
    }
    if let Some(roles) = &overrides.roles {
        figment = figment.merge(("server.roles", roles));
    }
    let config: Config = figment
        .extract_lossy()
        .map_err(|e| ConfigError::Invalid(describe(&e)))?;
    let config = resolve(config, &figment);
    validate(&config)?;
    Ok((config, warnings))
}

/// The given `MP3C_*` variables as a nested JSON object of strings (extraction is lossy:
/// `"8080"` becomes a number and `"true"` a boolean where the field wants one).
fn env_map(vars: &[(String, String)]) -> serde_json::Value {
    let mut root = serde_json::Map::new();
    for (var, value) in vars {
        let Some(key) = env_key(var).filter(|k| KNOWN_KEYS.contains(k)) else {
            continue;
        };
        let mut node = &mut root;
        let parts: Vec<&str> = key.split('.').collect();
        for part in &parts[..parts.len() - 1] {
            node = node
                .entry(part.to_string())
                .or_insert_with(|| serde_json::Value::Object(Default::default()))
                .as_object_mut()
                .expect("sections are objects");
        }
        node.insert(
            parts[parts.len() - 1].to_string(),
            serde_json::Value::from(value.clone()),
        );
    }
    serde_json::Value::Object(root)
}

fn describe(e: &figment::Error) -> String {
    e.clone()
        .into_iter()
        .map(|e| {
            let key = e.path.join(".");
            if key.is_empty() {
                e.kind.to_string()
            } else {
                format!("`{key}`: {}", e.kind)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Fills in the defaults that depend on other keys (paths under `data_dir`).
fn resolve(mut config: Config, figment: &Figment) -> Config {
    if !figment.contains("storage.path") {
        config.storage.path = config.data_dir.join("blobs");
    }
    if !figment.contains("mail.outbox_dir") {
        config.mail.outbox_dir = config.data_dir.join("outbox");
    }
    if config.auth.key_path.is_none() {
        config.auth.key_path = Some(config.data_dir.join("jwt-ed25519.pem"));
    }
    config
}

fn validate(config: &Config) -> Result<(), ConfigError> {
    config
        .auth
        .validate()
        .map_err(|e| ConfigError::Invalid(format!("[auth]: {e}")))?;
    config
        .oidc
        .validate()
        .map_err(|e| ConfigError::Invalid(format!("[oidc]: {e}")))?;
    config
        .gateway
        .validate()
        .map_err(|e| ConfigError::Invalid(format!("[gateway]: {e}")))?;
    config
        .import
        .validate()
        .map_err(|e| ConfigError::Invalid(format!("[import]: {e}")))?;
    config
        .retention
        .validate()
        .map_err(|e| ConfigError::Invalid(format!("[retention]: {e}")))?;
    config
        .converter
        .validate()
        .map_err(|e| ConfigError::Invalid(format!("[converter]: {e}")))?;
    if config.queue.video_queue.is_empty() || config.queue.mp3_queue.is_empty() {
        return Err(ConfigError::Invalid(
            "`queue.video_queue` and `queue.mp3_queue` must not be empty".into(),
        ));
    }
    if config.queue.max_attempts == 0 {
        return Err(ConfigError::Invalid(
            "`queue.max_attempts` must be at least 1".into(),
        ));
    }
    Ok(())
}
