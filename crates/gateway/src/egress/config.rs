//! `ImportConfig`: the `[import]` config section (URL import on or off, the addresses it may
//! reach besides the public internet, its time and redirect limits).

use mp3converter_core::CidrList;
use serde::Deserialize;

/// Most redirects `import.max_redirects` may allow.
pub const MAX_REDIRECTS_LIMIT: u8 = 10;

/// The `[import]` section. Key names are fixed (env: `MP3C_IMPORT__<KEY>`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImportConfig {
    /// `POST /api/v1/jobs` with a JSON `{"url": …}` body. Off: 403 `import-disabled`.
    pub enabled: bool,
    /// Networks the import may reach although the address policy refuses them (loopback,
    /// private, …): a list in TOML, comma-separated in `MP3C_IMPORT__ALLOW_CIDRS`. Also the
    /// allow-list of webhook targets. Empty by default: only public addresses.
    pub allow_cidrs: CidrList,
    /// Seconds one import may take in all (connect, redirects, download); then it fails with
    /// `import-timeout`. A job still `downloading` this long after its last progress (its
    /// gateway died) is failed with `import-interrupted`. Default 3600.
    pub timeout_secs: u64,
    /// Redirects followed (each one checked like the first URL); one more fails the import.
    /// Default 5, at most 10.
    pub max_redirects: u8,
}

impl Default for ImportConfig {
    fn default() -> Self {
        ImportConfig {
            enabled: true,
            allow_cidrs: CidrList::default(),
            timeout_secs: 3600,
            max_redirects: 5,
        }
    }
}

impl ImportConfig {
    /// Checks the values once at start; the error names the key and the reason.
    pub fn validate(&self) -> Result<(), String> {
        if self.timeout_secs == 0 {
            return Err("import.timeout_secs must be greater than 0".into());
        }
        if self.max_redirects > MAX_REDIRECTS_LIMIT {
            return Err(format!(
                "import.max_redirects must be at most {MAX_REDIRECTS_LIMIT}"
            ));
        }
        Ok(())
    }
}

/// The `[import]` section of the reference configuration: every key with its default.
pub const IMPORT_REFERENCE_TOML: &str = r#"[import]
# Import from a URL: POST /api/v1/jobs with {"url": "https://…"} (and `mp3converter import URL`).
# When false, such requests are refused with 403 import-disabled.
enabled = true
# Networks the import may reach although they are not the public internet (loopback, private,
# link-local, … are refused otherwise). A list here; comma-separated in the environment:
#   MP3C_IMPORT__ALLOW_CIDRS=10.20.0.0/16,fd00:1::/64
# Also the allow-list of webhook targets.
allow_cidrs = []
# Seconds one import may take in all (connect, redirects, download) before it fails with
# import-timeout. An import still downloading this long after its last progress (its gateway
# died) is failed with import-interrupted.
timeout_secs = 3600
# Redirects followed, each checked like the first URL (at most 10).
max_redirects = 5
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_values_are_refused_with_the_key() {
        assert_eq!(ImportConfig::default().validate(), Ok(()));
        let zero = ImportConfig {
            timeout_secs: 0,
            ..Default::default()
        };
        assert!(zero.validate().unwrap_err().contains("import.timeout_secs"));
        let many = ImportConfig {
            max_redirects: 11,
            ..Default::default()
        };
        assert!(
            many.validate()
                .unwrap_err()
                .contains("import.max_redirects")
        );
    }

    #[test]
    fn the_reference_section_is_the_default() {
        #[derive(Deserialize)]
        struct File {
            import: ImportConfig,
        }
        let file: File = toml::from_str(IMPORT_REFERENCE_TOML).unwrap();
        assert_eq!(file.import, ImportConfig::default());
    }
}
