//! What an output is tagged with: the source's tags, cover and chapters (unless the job says
//! `no_tags`), under the job's own tags and cover. Resolved once per conversion, before any
//! pipeline runs, and handed to the tag writers (`output/tags.rs`, the ffmpeg arguments).
//!
//! | field | from, first that exists |
//! |---|---|
//! | each tag | the job's option; the source's tag; for the title, the container title, then the file name |
//! | cover | the job's image (`--cover`); a frame of the video (`--cover-from-video`); the source's |
//! | chapters | the source's, moved and cut to the trimmed range |
//!
//! A cover the job supplies must be a good image (else the job fails with `bad-cover`); a
//! source's cover that does not decode is left out with a warning, since the source's bytes are
//! not the user's choice.

use std::io::Read;
use std::path::Path;

use crate::meta::{self, Chapter, SourceMeta, cover};
use crate::output::tags::Tagging;
use crate::plan::Plan;
use crate::{ConvertOptions, EngineConfig, MediaError};

/// Files a job brings besides its input.
#[derive(Debug, Clone, Copy, Default)]
pub struct Extras<'a> {
    /// The job's own cover image (any common picture format; validated and re-encoded),
    /// required when the options say `cover`.
    pub cover: Option<&'a Path>,
}

/// Chapters shorter than this after trimming are dropped (a cut that falls just after a
/// chapter's start would otherwise leave a sliver).
const MIN_CHAPTER_SECS: f64 = 0.05;

/// Resolves the tagging of `input`'s output.
pub(crate) fn resolve(
    input: &Path,
    options: &ConvertOptions,
    extras: &Extras<'_>,
    plan: &Plan,
    config: &EngineConfig,
) -> Result<Tagging, MediaError> {
    let source = meta::read(input, plan.duration_secs);
    resolve_with(input, &source, options, extras, plan, config)
}

fn resolve_with(
    input: &Path,
    source: &SourceMeta,
    options: &ConvertOptions,
    extras: &Extras<'_>,
    plan: &Plan,
    config: &EngineConfig,
) -> Result<Tagging, MediaError> {
    let mut tags = if options.no_tags {
        Default::default()
    } else {
        let mut t = source.tags.clone();
        // The plan's title is the container's title or the file name.
        if t.title.is_none() {
            t.title = plan.title.clone();
        }
        t
    };
    tags = tags.overridden_by(&options.tags());
    let cover = if options.cover {
        let path = extras
            .cover
            .ok_or_else(|| MediaError::BadCover("the job's cover image is missing".into()))?;
        Some(cover::clean(&read_bounded(path)?)?)
    } else if let Some(at) = options.cover_from_video {
        Some(crate::ffmpeg::frame::cover_from_video(input, at, config)?)
    } else if options.no_tags {
        None
    } else {
        source
            .cover
            .as_deref()
            .and_then(|bytes| match cover::clean(bytes) {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::warn!(error = %e, "the source's cover art is left out");
                    None
                }
            })
    };
    Ok(Tagging {
        tags,
        cover,
        chapters: trimmed(&source.chapters, options.start, options.end),
        total_tracks: None,
    })
}

/// The job's cover file, refused past [`cover::MAX_COVER_BYTES`] without reading it all.
fn read_bounded(path: &Path) -> Result<Vec<u8>, MediaError> {
    let limit = cover::MAX_COVER_BYTES as u64;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(limit + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(MediaError::BadCover(format!(
            "the cover image is larger than {} MiB",
            limit >> 20
        )));
    }
    Ok(bytes)
}

/// `chapters` on the output's clock: moved back by the trim's start, cut at its end, the ones
/// outside (or left too short) dropped.
pub(crate) fn trimmed(chapters: &[Chapter], start: Option<f64>, end: Option<f64>) -> Vec<Chapter> {
    let from = start.unwrap_or(0.0);
    let to = end.unwrap_or(f64::INFINITY);
    chapters
        .iter()
        .filter_map(|c| {
            let s = c.start_secs.max(from);
            let e = c.end_secs.min(to);
            (e - s >= MIN_CHAPTER_SECS).then(|| Chapter {
                start_secs: s - from,
                end_secs: e - from,
                title: c.title.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Pipeline;
    use mp3converter_core::Tags;

    fn chapter(s: f64, e: f64, t: &str) -> Chapter {
        Chapter {
            start_secs: s,
            end_secs: e,
            title: Some(t.into()),
        }
    }

    fn plan(title: &str) -> Plan {
        Plan {
            pipeline: Pipeline::Native,
            reason: None,
            duration_secs: Some(30.0),
            title: Some(title.into()),
        }
    }

    #[test]
    fn chapters_follow_the_trim() {
        let chapters = [
            chapter(0.0, 10.0, "a"),
            chapter(10.0, 20.0, "b"),
            chapter(20.0, 30.0, "c"),
        ];
        let got = trimmed(&chapters, Some(5.0), Some(20.02));
        assert_eq!(got, [chapter(0.0, 5.0, "a"), chapter(5.0, 15.0, "b")]);
        assert_eq!(trimmed(&chapters, None, None), chapters);
    }

    #[test]
    fn the_job_overrides_the_source_and_no_tags_drops_the_source() {
        let source = SourceMeta {
            tags: Tags {
                artist: Some("Band".into()),
                album: Some("Live".into()),
                ..Tags::default()
            },
            cover: Some(b"not an image".to_vec()),
            chapters: vec![chapter(0.0, 30.0, "all")],
        };
        let options = ConvertOptions {
            album: Some("Mine".into()),
            ..Default::default()
        };
        let config = EngineConfig::default();
        let input = Path::new("talk.mp4");
        let t = resolve_with(
            input,
            &source,
            &options,
            &Extras::default(),
            &plan("talk"),
            &config,
        )
        .unwrap();
        assert_eq!(
            t.tags.title.as_deref(),
            Some("talk"),
            "the plan's title fills in"
        );
        assert_eq!(t.tags.artist.as_deref(), Some("Band"));
        assert_eq!(t.tags.album.as_deref(), Some("Mine"));
        assert_eq!(
            t.cover, None,
            "a source cover that does not decode is left out"
        );
        assert_eq!(t.chapters.len(), 1);

        let bare = ConvertOptions {
            no_tags: true,
            genre: Some("Talk".into()),
            ..Default::default()
        };
        let t = resolve_with(
            input,
            &source,
            &bare,
            &Extras::default(),
            &plan("talk"),
            &config,
        )
        .unwrap();
        assert_eq!(
            t.tags,
            Tags {
                genre: Some("Talk".into()),
                ..Tags::default()
            }
        );

        let missing = ConvertOptions {
            cover: true,
            ..Default::default()
        };
        let e = resolve_with(
            input,
            &source,
            &missing,
            &Extras::default(),
            &plan("t"),
            &config,
        )
        .unwrap_err();
        assert_eq!(e.code(), "bad-cover");
    }
}
