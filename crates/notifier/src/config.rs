//! `NotifierConfig`: the `[notifier]` section, and its commented reference text.

use serde::{Deserialize, Serialize};

/// The `[notifier]` config section (env: `MP3C_NOTIFIER__<KEY>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifierConfig {
    /// Emails this process sends at once (at least 1).
    pub concurrency: usize,
}

impl Default for NotifierConfig {
    fn default() -> Self {
        NotifierConfig { concurrency: 4 }
    }
}

/// The `[notifier]` section of the reference configuration, every key with its default.
pub const REFERENCE_TOML: &str = r#"[notifier]
# Emails this process sends at once.
concurrency = 4
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        notifier: NotifierConfig,
    }

    #[test]
    fn reference_text_parses_to_the_defaults() {
        let file: File = toml::from_str(REFERENCE_TOML).unwrap();
        assert_eq!(file.notifier, NotifierConfig::default());
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(toml::from_str::<File>("[notifier]\nthreads = 2\n").is_err());
    }
}
