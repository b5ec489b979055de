//! Configuration loading: the reference file, environment names, `*_FILE` secrets, errors.

use std::io::Write;

use secrecy::ExposeSecret;

use super::load::{Overrides, REFERENCE, load_from};
use super::{KNOWN_KEYS, QueueBackend, Role};

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn the_reference_file_loads_and_lists_every_section() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(REFERENCE.as_bytes()).unwrap();
    let (config, warnings) = load_from(Some(file.path()), &[], &Overrides::default()).unwrap();
    assert!(warnings.is_empty());
    assert_eq!(config.server.listen.to_string(), "127.0.0.1:8080");
    for key in [
        "data_dir",
        "server.listen",
        "queue.backend",
        "storage.secret_access_key",
        "mail.url",
    ] {
        assert!(KNOWN_KEYS.contains(key), "{key} missing from the reference");
    }
}

#[test]
fn the_reference_file_carries_each_crates_section_verbatim() {
    // Each crate owns the documentation of its section; this keeps the reference file current.
    const SECTIONS: &[(&str, &str)] = &[
        ("auth", mp3converter_auth::REFERENCE_TOML),
        ("oidc", mp3converter_auth::OIDC_REFERENCE_TOML),
        ("gateway", mp3converter_gateway::REFERENCE_TOML),
        ("import", mp3converter_gateway::IMPORT_REFERENCE_TOML),
        ("quotas", mp3converter_gateway::QUOTAS_REFERENCE_TOML),
        ("retention", mp3converter_janitor::REFERENCE_TOML),
    ];
    for (name, section) in SECTIONS {
        assert!(
            REFERENCE.contains(section),
            "the [{name}] section of mp3converter.example.toml is stale"
        );
    }
}

#[test]
fn the_configuration_page_shows_the_current_reference_file() {
    let page = include_str!("../../../../docs/configuration.md");
    assert!(
        page.contains(REFERENCE),
        "docs/configuration.md is stale: copy mp3converter.example.toml into it"
    );
}

#[test]
fn environment_overrides_the_file_and_flags_override_both() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    writeln!(
        file,
        "[queue]\nmax_attempts = 3\nvideo_queue = \"from-file\""
    )
    .unwrap();
    let vars = env(&[
        ("MP3C_QUEUE__VIDEO_QUEUE", "from-env"),
        ("MP3C_QUEUE__BACKEND", "rabbitmq"),
    ]);
    let flags = Overrides {
        listen: Some("0.0.0.0:9000".into()),
        roles: Some("gateway,auth".into()),
        ..Default::default()
    };
    let (config, _) = load_from(Some(file.path()), &vars, &flags).unwrap();
    assert_eq!(config.queue.max_attempts, 3);
    assert_eq!(config.queue.video_queue, "from-env");
    assert_eq!(config.queue.backend, QueueBackend::Rabbitmq);
    assert_eq!(config.server.listen.port(), 9000);
    assert_eq!(
        config.server.roles.iter().collect::<Vec<_>>(),
        vec![Role::Auth, Role::Gateway]
    );
}

#[test]
fn numbers_and_secrets_come_from_the_environment_and_files() {
    let mut secret = tempfile::NamedTempFile::new().unwrap();
    writeln!(secret, "s3cr3t-from-file").unwrap();
    let vars = env(&[
        ("MP3C_QUEUE__LEASE_SECS", "90"),
        ("MP3C_ADMIN_PASSWORD", "123456"),
        ("MP3C_DATABASE__URL_FILE", secret.path().to_str().unwrap()),
    ]);
    let (config, warnings) = load_from(None, &vars, &Overrides::default()).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(config.queue.lease_secs, 90);
    assert_eq!(config.admin_password.unwrap().expose_secret(), "123456");
    assert_eq!(
        config.database.url.unwrap().expose_secret(),
        "s3cr3t-from-file"
    );
}

#[test]
fn misspelt_variables_are_reported_and_bad_values_name_the_key() {
    let (_, warnings) = load_from(
        None,
        &env(&[("MP3C_QUEUE__BAKEND", "rabbitmq")]),
        &Overrides::default(),
    )
    .unwrap();
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].contains("MP3C_QUEUE__BAKEND"));

    let err = load_from(
        None,
        &env(&[("MP3C_QUEUE__BACKEND", "kafka")]),
        &Overrides::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("queue.backend"), "{err}");
    let err = load_from(
        None,
        &env(&[("MP3C_SERVER__ROLES", "gateway,cook")]),
        &Overrides::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("cook"), "{err}");
    assert!(err.to_string().contains("server.roles"), "{err}");
    for (var, value, key) in [
        (
            "MP3C_RETENTION__SWEEP_MIN_AGE_SECS",
            "5",
            "sweep_min_age_secs",
        ),
        (
            "MP3C_GATEWAY__REQUEST_TIMEOUT_SECS",
            "0",
            "request_timeout_secs",
        ),
    ] {
        let err = load_from(None, &env(&[(var, value)]), &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains(key), "{err}");
    }
    let (config, _) = load_from(
        None,
        &env(&[("MP3C_RETENTION__ENABLED", "false")]),
        &Overrides::default(),
    )
    .unwrap();
    assert!(!config.retention.enabled);
    let missing = std::path::Path::new("/nonexistent/mp3converter.toml");
    assert!(load_from(Some(missing), &[], &Overrides::default()).is_err());
}

#[test]
fn embedded_paths_follow_the_data_dir_unless_set() {
    let flags = Overrides {
        data_dir: Some("/srv/mp3".into()),
        ..Default::default()
    };
    let (config, _) = load_from(
        None,
        &env(&[("MP3C_MAIL__OUTBOX_DIR", "/var/mail/out")]),
        &flags,
    )
    .unwrap();
    assert_eq!(config.storage.path, std::path::Path::new("/srv/mp3/blobs"));
    assert_eq!(
        config.mail.outbox_dir,
        std::path::Path::new("/var/mail/out")
    );
    assert_eq!(
        config.database_url().expose_secret(),
        "sqlite:///srv/mp3/mp3converter.db?mode=rwc"
    );
}

#[test]
fn secrets_are_redacted_in_debug_output() {
    let vars = env(&[("MP3C_ADMIN_PASSWORD", "hunter2-very-secret")]);
    let (config, _) = load_from(None, &vars, &Overrides::default()).unwrap();
    assert!(!format!("{config:?}").contains("hunter2"));
}

#[test]
fn trusted_proxies_come_comma_separated_from_the_environment_and_bad_cidrs_name_the_key() {
    let vars = env(&[(
        "MP3C_SERVER__TRUSTED_PROXIES",
        "10.0.0.0/8, fd00::/8,192.0.2.1",
    )]);
    let (config, warnings) = load_from(None, &vars, &Overrides::default()).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let trusted = &config.server.trusted_proxies;
    assert!(trusted.contains("10.1.2.3".parse().unwrap()));
    assert!(trusted.contains("fd12::1".parse().unwrap()));
    assert!(trusted.contains("192.0.2.1".parse().unwrap()));
    assert!(!trusted.contains("192.0.2.2".parse().unwrap()));

    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(b"[server]\ntrusted_proxies = [\"127.0.0.1/32\", \"::1\"]\n")
        .unwrap();
    let (config, _) = load_from(Some(file.path()), &[], &Overrides::default()).unwrap();
    assert!(
        config
            .server
            .trusted_proxies
            .contains("::1".parse().unwrap())
    );
    assert!(
        load_from(None, &[], &Overrides::default())
            .unwrap()
            .0
            .server
            .trusted_proxies
            .is_empty()
    );

    for bad in ["10.0.0.0/33", "10.0.0.0/8,proxy.local"] {
        let vars = env(&[("MP3C_SERVER__TRUSTED_PROXIES", bad)]);
        let err = load_from(None, &vars, &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("server.trusted_proxies"), "{err}");
    }
}

#[test]
fn import_settings_come_from_the_environment_and_are_checked() {
    let vars = env(&[
        ("MP3C_IMPORT__ALLOW_CIDRS", "127.0.0.0/8,fd00:1::/64"),
        ("MP3C_IMPORT__TIMEOUT_SECS", "60"),
        ("MP3C_IMPORT__ENABLED", "false"),
    ]);
    let (config, warnings) = load_from(None, &vars, &Overrides::default()).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let import = &config.import;
    assert!(import.allow_cidrs.contains("127.0.0.1".parse().unwrap()));
    assert!(import.allow_cidrs.contains("fd00:1::5".parse().unwrap()));
    assert!(!import.allow_cidrs.contains("10.0.0.1".parse().unwrap()));
    assert_eq!((import.timeout_secs, import.enabled), (60, false));

    let defaults = load_from(None, &[], &Overrides::default())
        .unwrap()
        .0
        .import;
    assert!(defaults.enabled && defaults.allow_cidrs.is_empty());
    assert_eq!((defaults.timeout_secs, defaults.max_redirects), (3600, 5));

    for (key, bad) in [
        ("MP3C_IMPORT__ALLOW_CIDRS", "10.0.0.0/8,intranet"),
        ("MP3C_IMPORT__TIMEOUT_SECS", "0"),
        ("MP3C_IMPORT__MAX_REDIRECTS", "50"),
    ] {
        let err = load_from(None, &env(&[(key, bad)]), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("import."), "{key}={bad}: {err}");
    }
}
