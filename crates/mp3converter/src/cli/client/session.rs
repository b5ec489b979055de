//! The stored session of the command-line client: the server's URL and the token from
//! `mp3converter login`, kept in `session.json` (mode 0600) in the user's config directory.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// Overrides the directory of the session file (tests, several accounts). It is deliberately not
/// an `MP3C_*` name: those are the server's configuration keys.
pub const DIR_ENV: &str = "MP3CONVERTER_CLIENT_DIR";

const FILE_NAME: &str = "session.json";

/// What `login` stores. `logout` drops the token and keeps the server, so a later `login` needs
/// no `--server`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The server's base URL, without a trailing slash.
    pub server: String,
    /// Who logged in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The JWT from `POST /login`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// `$MP3CONVERTER_CLIENT_DIR`, else `$XDG_CONFIG_HOME/mp3converter`, else
/// `~/.config/mp3converter`.
pub fn dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os(DIR_ENV).filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    // The XDG spec says a relative XDG_CONFIG_HOME is invalid and must be ignored.
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::home_dir().map(|home| home.join(".config")))
        .with_context(|| {
            format!("cannot find a config directory: set HOME, XDG_CONFIG_HOME or {DIR_ENV}")
        })?;
    Ok(base.join("mp3converter"))
}

/// The session file's path.
pub fn path() -> anyhow::Result<PathBuf> {
    Ok(dir()?.join(FILE_NAME))
}

/// The stored session, if there is one.
pub fn load() -> anyhow::Result<Option<Session>> {
    load_from(&path()?)
}

fn load_from(path: &Path) -> anyhow::Result<Option<Session>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .with_context(|| format!("{} is damaged: delete it and log in again", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Writes `session` atomically, readable only by the user (the token is a credential).
pub fn save(session: &Session) -> anyhow::Result<PathBuf> {
    let path = path()?;
    save_to(&path, session)?;
    Ok(path)
}

fn save_to(path: &Path, session: &Session) -> anyhow::Result<()> {
    let dir = path.parent().context("the session path has no directory")?;
    create_private_dir(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let write = || -> std::io::Result<()> {
        // A temp file in the same directory is created with mode 0600, then renamed over the
        // old file: a reader never sees half a file, and the token is never world-readable.
        let mut file = tempfile::Builder::new()
            .prefix(".session")
            .tempfile_in(dir)?;
        serde_json::to_writer_pretty(&mut file, session)?;
        file.write_all(b"\n")?;
        file.as_file().sync_all()?;
        file.persist(path)?;
        Ok(())
    };
    write().with_context(|| format!("cannot write {}", path.display()))
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_session_loads_back_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/session.json");
        assert_eq!(load_from(&path).unwrap(), None);
        let session = Session {
            server: "http://127.0.0.1:8080".into(),
            email: Some("me@example.com".into()),
            token: Some("a.b.c".into()),
        };
        save_to(&path, &session).unwrap();
        assert_eq!(load_from(&path).unwrap(), Some(session.clone()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Overwriting keeps one file and drops the token.
        let out = Session {
            token: None,
            ..session
        };
        save_to(&path, &out).unwrap();
        assert_eq!(load_from(&path).unwrap(), Some(out));
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1
        );
    }

    #[test]
    fn a_damaged_file_says_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("session.json");
        std::fs::write(&path, "{not json").unwrap();
        let e = load_from(&path).unwrap_err().to_string();
        assert!(e.contains("delete it and log in again"), "{e}");
    }
}
