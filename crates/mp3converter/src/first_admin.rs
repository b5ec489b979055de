//! The first admin, created on the first start: with the configured password, or with a
//! generated one that is written to `<data_dir>/initial-admin-password` (mode 0600) and never to
//! stdout or the log, which in a container are read by whoever reads the logs.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use mp3converter_auth::{AuthError, AuthService};
use secrecy::ExposeSecret as _;

use crate::config::Config;

/// The file in the data dir that holds a generated first-admin password.
pub const PASSWORD_FILE: &str = "initial-admin-password";

/// Creates the first admin when there are no users yet. A generated password is written to a
/// private temporary file *before* the account exists (an unwritable data dir fails the start
/// and creates nothing), and the file is renamed to [`PASSWORD_FILE`] once the account is
/// created; stdout gets only the email and the path. Returns the generated `(email, password)`.
pub async fn ensure(
    auth: &AuthService,
    config: &Config,
) -> anyhow::Result<Option<(String, String)>> {
    let dir = config.data_dir.as_path();
    let mut pending = None;
    let generated = auth
        .ensure_admin(
            config.admin_email.as_deref(),
            config.admin_password.as_ref().map(|p| p.expose_secret()),
            |_, password| {
                let file = write_private(dir, password)
                    .map_err(|e| AuthError::Internal(format!("{}: {e}", dir.display())))?;
                pending = Some(file);
                Ok(())
            },
        )
        .await
        .context("cannot create the first admin")?;
    let Some((email, password)) = generated else {
        // Users existed, or another process created the admin first: nothing to keep.
        return Ok(None);
    };
    let path = publish(pending, dir)?;
    println!(
        "created the first admin {email}: its generated password is in {} (readable by this user \
         only) and will not be shown again; log in, change it, then delete the file",
        path.display()
    );
    Ok(Some((email, password)))
}

/// `password` in a new temporary file in `dir` that only its owner can read.
fn write_private(dir: &Path, password: &str) -> std::io::Result<tempfile::NamedTempFile> {
    std::fs::create_dir_all(dir)?;
    // tempfile creates files with mode 0600.
    let mut file = tempfile::Builder::new()
        .prefix(".initial-admin-password.")
        .tempfile_in(dir)?;
    file.write_all(format!("{password}\n").as_bytes())?;
    file.as_file().sync_all()?;
    Ok(file)
}

/// Renames the pending file to [`PASSWORD_FILE`] (replacing one left by an earlier install).
fn publish(pending: Option<tempfile::NamedTempFile>, dir: &Path) -> anyhow::Result<PathBuf> {
    let path = dir.join(PASSWORD_FILE);
    pending
        .context("the generated admin password was not written")?
        .persist(&path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}
