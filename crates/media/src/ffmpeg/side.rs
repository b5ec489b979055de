//! The files the ffmpeg pipeline hands ffmpeg besides the input: an `ffmetadata` file with the
//! tags and chapters (so the output says what the native encoders' files say), and the cover as
//! a JPEG for the formats whose ffmpeg muxer embeds a picture (MP3 APIC, MP4 `covr`, FLAC
//! PICTURE). Written in a private temporary directory that lives as long as the run.

use std::fmt::Write as _;
use std::path::PathBuf;

use mp3converter_core::AudioFormat;

use crate::output::tags::{Tagging, chapter_title};
use crate::{EngineConfig, MediaError};

/// The side files of one run; removed on drop.
pub(crate) struct SideInputs {
    _dir: tempfile::TempDir,
    /// The `ffmetadata` file.
    pub metadata: PathBuf,
    /// The cover, when there is one and the format's muxer can carry it.
    pub cover: Option<PathBuf>,
}

impl SideInputs {
    /// Writes the side files for `tagging` in `format`.
    pub fn write(
        tagging: &Tagging,
        format: AudioFormat,
        config: &EngineConfig,
    ) -> Result<Self, MediaError> {
        let builder = tempfile::Builder::new()
            .prefix(".mp3c-ffmeta-")
            .tempdir_in(config.temp_dir.clone().unwrap_or_else(std::env::temp_dir));
        let dir = builder?;
        let metadata = dir.path().join("metadata.txt");
        std::fs::write(&metadata, ffmetadata(tagging))?;
        let carries_picture = matches!(
            format,
            AudioFormat::Mp3 | AudioFormat::M4a | AudioFormat::Flac
        );
        let cover = match &tagging.cover {
            Some(c) if carries_picture => {
                let path = dir.path().join("cover.jpg");
                std::fs::write(&path, &c.jpeg)?;
                Some(path)
            }
            _ => None,
        };
        Ok(SideInputs {
            _dir: dir,
            metadata,
            cover,
        })
    }
}

/// ffmpeg's metadata file format: `key=value` lines, then one `[CHAPTER]` section per chapter
/// with its times in milliseconds. Keys are ffmpeg's generic names, which each muxer maps to
/// its own (ID3 frames, MP4 atoms, Vorbis comments).
fn ffmetadata(tagging: &Tagging) -> String {
    let t = &tagging.tags;
    let mut out = String::from(";FFMETADATA1\n");
    for (key, value) in t.texts() {
        if let Some(v) = value {
            let _ = writeln!(out, "{key}={}", escape(v));
        }
    }
    if let Some(n) = t.track_number {
        match tagging.total_tracks {
            Some(total) => {
                let _ = writeln!(out, "track={n}/{total}");
            }
            None => {
                let _ = writeln!(out, "track={n}");
            }
        }
    }
    out.push_str("encoder=mp3converter (ffmpeg)\n");
    for (i, c) in tagging.chapters.iter().enumerate() {
        let ms = |s: f64| (s.max(0.0) * 1000.0).round() as u64;
        let _ = write!(
            out,
            "[CHAPTER]\nTIMEBASE=1/1000\nSTART={}\nEND={}\ntitle={}\n",
            ms(c.start_secs),
            ms(c.end_secs),
            escape(&chapter_title(c, i))
        );
    }
    out
}

/// A value as the ffmetadata format needs it: `=`, `;`, `#`, `\` and line breaks backslashed,
/// other control characters dropped.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for ch in value.chars() {
        match ch {
            '=' | ';' | '#' | '\\' | '\n' => {
                out.push('\\');
                out.push(ch);
            }
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::Chapter;
    use mp3converter_core::Tags;

    #[test]
    fn metadata_file_escapes_values_and_lists_chapters() {
        let tagging = Tagging {
            tags: Tags {
                title: Some("a=b; #1 \\ x".into()),
                track_number: Some(3),
                ..Tags::default()
            },
            chapters: vec![Chapter {
                start_secs: 1.5,
                end_secs: 2.0,
                title: None,
            }],
            total_tracks: Some(9),
            ..Tagging::default()
        };
        let text = ffmetadata(&tagging);
        assert!(text.starts_with(";FFMETADATA1\n"));
        assert!(text.contains("title=a\\=b\\; \\#1 \\\\ x\n"), "{text}");
        assert!(text.contains("track=3/9\n"));
        assert!(
            text.contains("[CHAPTER]\nTIMEBASE=1/1000\nSTART=1500\nEND=2000\ntitle=Chapter 1\n")
        );
    }
}
