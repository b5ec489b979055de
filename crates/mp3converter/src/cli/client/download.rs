//! `mp3converter download JOB [-o PATH]`, and saving a job's MP3 (also used by `upload --wait`):
//! streamed into a temp file beside the target, renamed into place when complete, named after
//! the server's `Content-Disposition`.

use std::io;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use futures_util::StreamExt;
use mp3converter_core::{AudioFormat, JobId};
use percent_encoding::percent_decode_str;
use reqwest::header::CONTENT_DISPOSITION;
use tokio::io::AsyncWriteExt;

use super::api::{Api, ClientError, human_bytes};
use super::progress::Progress;
use super::session;

#[derive(Debug, Args)]
pub struct DownloadArgs {
    /// The job's id (from `upload` or `jobs`).
    job: JobId,
    /// A file to write, or a directory to save into under the server's name for it (default:
    /// the current directory).
    #[arg(short, long, value_name = "PATH")]
    output: Option<PathBuf>,
    /// Overwrite the output file if it exists.
    #[arg(short = 'y', long)]
    overwrite: bool,
}

pub async fn run(args: DownloadArgs) -> anyhow::Result<()> {
    let api = Api::from_session(session::load()?)?;
    let target = match args.output {
        None => Target::Dir(PathBuf::from(".")),
        Some(path) if path.is_dir() => Target::Dir(path),
        Some(path) => {
            if path.exists() && !args.overwrite {
                anyhow::bail!("{} already exists (use -y to overwrite)", path.display());
            }
            Target::File {
                path,
                overwrite: args.overwrite,
            }
        }
    };
    let progress = Progress::new();
    let saved = fetch(&api, &args.job, &target, &progress).await?;
    println!("{}", saved.display());
    Ok(())
}

/// Where the audio goes.
#[derive(Debug, Clone)]
pub enum Target {
    /// Into this directory, under the server's name (never overwriting: `name (2).mp3`).
    Dir(PathBuf),
    /// This exact file.
    File {
        /// The file.
        path: PathBuf,
        /// Replace it if it exists.
        overwrite: bool,
    },
}

/// Downloads the audio of job `id` to `target`; the path written.
pub async fn fetch(
    api: &Api,
    id: &JobId,
    target: &Target,
    progress: &Progress,
) -> anyhow::Result<PathBuf> {
    let res = api.audio(id).await?;
    let name = res
        .headers()
        .get(CONTENT_DISPOSITION)
        .and_then(|v| v.to_str().ok())
        .and_then(disposition_name)
        .unwrap_or_else(|| {
            let format = res
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .and_then(|t| {
                    let essence = t.split(';').next().unwrap_or_default().trim();
                    AudioFormat::ALL
                        .into_iter()
                        .find(|f| f.content_type().eq_ignore_ascii_case(essence))
                })
                .unwrap_or_default();
            format!("{id}.{}", format.extension())
        });
    let dir = match target {
        Target::Dir(dir) => dir.as_path(),
        Target::File { path, .. } => match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        },
    };
    // The temp file beside the target makes the final rename atomic; it is removed if anything
    // fails before that.
    let mut builder = tempfile::Builder::new();
    builder.prefix(".mp3converter-").suffix(".part");
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666)); // minus the umask
    let part = builder
        .tempfile_in(dir)
        .with_context(|| format!("cannot write into {}", dir.display()))?;
    let mut file = tokio::fs::File::from_std(part.reopen()?);

    let total = res.content_length();
    let bar = progress.transfer("download", &name, total);
    progress.step(format!("downloading {name} (job {id})"));
    let mut written = 0u64;
    let mut body = res.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| api.transport(e))?;
        file.write_all(&chunk)
            .await
            .with_context(|| format!("cannot write into {}", dir.display()))?;
        written += chunk.len() as u64;
        bar.inc(chunk.len() as u64);
    }
    file.flush().await?;
    drop(file);
    bar.finish();
    if total.is_some_and(|t| t != written) {
        return Err(ClientError::Protocol {
            server: api.server().to_owned(),
            detail: format!("the download of job {id} ended early"),
        }
        .into());
    }

    let saved = match target {
        Target::Dir(dir) => persist_new(part, dir, &name)?,
        Target::File { path, overwrite } => {
            let result = if *overwrite {
                part.persist(path)
            } else {
                part.persist_noclobber(path)
            };
            match result {
                Ok(_) => path.clone(),
                Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => {
                    anyhow::bail!("{} already exists (use -y to overwrite)", path.display())
                }
                Err(e) => {
                    return Err(e.error)
                        .with_context(|| format!("cannot write {}", path.display()));
                }
            }
        }
    };
    progress.line(format!(
        "saved {} ({})",
        saved.display(),
        human_bytes(written)
    ));
    Ok(saved)
}

/// Renames `part` to `dir/name`, or `dir/stem (2).ext`, … when that exists.
fn persist_new(
    mut part: tempfile::NamedTempFile,
    dir: &Path,
    name: &str,
) -> anyhow::Result<PathBuf> {
    let (stem, ext) = match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => (stem, format!(".{ext}")),
        _ => (name, String::new()),
    };
    for n in 1..=1000 {
        let candidate = if n == 1 {
            dir.join(name)
        } else {
            dir.join(format!("{stem} ({n}){ext}"))
        };
        match part.persist_noclobber(&candidate) {
            Ok(_) => return Ok(candidate),
            Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => part = e.file,
            Err(e) => {
                return Err(e.error)
                    .with_context(|| format!("cannot write {}", candidate.display()));
            }
        }
    }
    anyhow::bail!(
        "{} and 999 numbered copies exist already",
        dir.join(name).display()
    )
}

/// The file name in a `Content-Disposition` value: `filename*` (RFC 8187, UTF-8) first, else
/// `filename`; reduced to a safe base name (no directories, control characters or leading dots).
pub fn disposition_name(value: &str) -> Option<String> {
    let mut plain = None;
    let mut extended = None;
    for (key, val) in params(value) {
        if key.eq_ignore_ascii_case("filename*") {
            let mut parts = val.splitn(3, '\'');
            let (charset, _lang, encoded) = (parts.next()?, parts.next()?, parts.next()?);
            if charset.eq_ignore_ascii_case("utf-8") {
                extended = percent_decode_str(encoded)
                    .decode_utf8()
                    .ok()
                    .map(|s| s.into_owned());
            }
        } else if key.eq_ignore_ascii_case("filename") {
            plain = Some(val);
        }
    }
    let raw = extended.or(plain)?;
    let name = mp3converter_gateway::sanitize_file_name(Some(&raw));
    // `sanitize` falls back to "upload" when nothing usable was left.
    (name != "upload" || raw.trim() == "upload").then_some(name)
}

/// The `key=value` parameters after the disposition type; quoted values unescaped.
fn params(value: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = value.split_once(';').map_or("", |(_, r)| r);
    loop {
        rest = rest.trim_start_matches([' ', '\t', ';']);
        let Some((key, after)) = rest.split_once('=') else {
            return out;
        };
        let key = key.trim().to_owned();
        let after = after.trim_start();
        let mut val = String::new();
        if let Some(quoted) = after.strip_prefix('"') {
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => val.extend(chars.next().map(|(_, c)| c)),
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => val.push(c),
                }
            }
            rest = &quoted[end..];
        } else {
            let end = after.find(';').unwrap_or(after.len());
            val.push_str(after[..end].trim_end());
            rest = &after[end..];
        }
        out.push((key, val));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_comes_from_filename_star_then_filename() {
        // What the gateway sends for `Mötley "Crüe";x=1 %41.mp4`.
        let header = "attachment; filename=\"M_tley Cr_e_x=1 _41.mp3\"; \
                      filename*=UTF-8''M%C3%B6tley%20Cr%C3%BCe%3Bx%3D1%20%2541.mp3";
        assert_eq!(
            disposition_name(header).as_deref(),
            Some("Mötley Crüe;x=1 %41.mp3")
        );
        assert_eq!(
            disposition_name("attachment; filename=\"a \\\"b\\\"; c.mp3\"").as_deref(),
            Some("a b; c.mp3"),
            "quotes are unescaped, then removed by sanitising"
        );
        assert_eq!(
            disposition_name("attachment; filename=plain.mp3").as_deref(),
            Some("plain.mp3")
        );
        assert_eq!(
            disposition_name("attachment; filename*=ISO-8859-1''x.mp3; filename=\"y.mp3\"")
                .as_deref(),
            Some("y.mp3")
        );
    }

    #[test]
    fn hostile_names_cannot_leave_the_directory() {
        for header in [
            "attachment; filename=\"../../.bashrc\"",
            "attachment; filename*=UTF-8''..%2F..%2F.bashrc",
            "attachment; filename=\"C:\\\\Windows\\\\.bashrc\"",
        ] {
            assert_eq!(
                disposition_name(header).as_deref(),
                Some("bashrc"),
                "{header}"
            );
        }
        assert_eq!(disposition_name("attachment; filename=\"..\""), None);
        assert_eq!(disposition_name("attachment"), None);
        assert_eq!(disposition_name("attachment; filename=\"\x01\""), None);
    }

    #[test]
    fn saving_into_a_directory_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let save = |content: &str| {
            let mut part = tempfile::NamedTempFile::new_in(dir.path()).unwrap();
            std::io::Write::write_all(&mut part, content.as_bytes()).unwrap();
            persist_new(part, dir.path(), "talk.mp3").unwrap()
        };
        assert_eq!(save("1"), dir.path().join("talk.mp3"));
        assert_eq!(save("2"), dir.path().join("talk (2).mp3"));
        assert_eq!(save("3"), dir.path().join("talk (3).mp3"));
        assert_eq!(
            std::fs::read_to_string(dir.path().join("talk.mp3")).unwrap(),
            "1"
        );
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            3,
            "no temp files left"
        );
    }
}
