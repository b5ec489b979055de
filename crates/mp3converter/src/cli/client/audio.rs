//! `upload --extract-audio` (the default): take the audio track out of an MP4/MOV or
//! Matroska/WebM file before uploading it (see docs/audio-extraction.md), and stream the
//! extracted file's pieces as an upload body from any offset.

use std::collections::VecDeque;
use std::io::SeekFrom;
use std::path::{Path, PathBuf};

use anyhow::Context;
use futures_util::Stream;
use mp3converter_media::extract::{self, Extraction, Outcome, Piece};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::progress::Bar;

/// Bytes read from the source at a time.
const READ_CHUNK: u64 = 64 * 1024;

/// Plans the extraction of audio track `track` (`None`: the only one) of `path`, on a blocking
/// thread, showing the bytes scanned on `bar`. `None` when the file is to be sent whole (the
/// reason is logged at debug level).
pub(super) async fn plan(
    path: &Path,
    track: Option<usize>,
    bar: Bar,
) -> anyhow::Result<Option<Extraction>> {
    let owned: PathBuf = path.to_owned();
    let outcome = tokio::task::spawn_blocking(move || {
        let mut file = std::fs::File::open(&owned)?;
        let len = file.metadata()?.len();
        let outcome = extract::plan(&mut file, len, track, &|n| bar.set_position(n));
        bar.finish();
        outcome
    })
    .await
    .context("the audio extraction stopped")?
    .context("cannot read the file")?;
    Ok(match outcome {
        Outcome::Extracted(extraction) => Some(extraction),
        Outcome::Whole(reason) => {
            tracing::debug!(file = %path.display(), %reason, "sending the whole file");
            None
        }
    })
}

/// The extracted file from byte `offset` on, read from the source `file` as it is sent.
pub(super) fn body_from(
    file: tokio::fs::File,
    extraction: &Extraction,
    offset: u64,
) -> impl Stream<Item = std::io::Result<Vec<u8>>> + Send + 'static {
    let pieces: VecDeque<Piece> = extraction.pieces_from(offset).into();
    futures_util::stream::unfold(Some((file, pieces)), |state| async move {
        let (mut file, mut pieces) = state?;
        match pieces.pop_front()? {
            Piece::Bytes(bytes) => Some((Ok(bytes), Some((file, pieces)))),
            Piece::Source { offset, len } => {
                let n = len.min(READ_CHUNK);
                let mut buf = vec![0u8; n as usize];
                let read = async {
                    file.seek(SeekFrom::Start(offset)).await?;
                    file.read_exact(&mut buf).await?;
                    std::io::Result::Ok(())
                };
                match read.await {
                    Ok(()) => {
                        if len > n {
                            pieces.push_front(Piece::Source {
                                offset: offset + n,
                                len: len - n,
                            });
                        }
                        Some((Ok(buf), Some((file, pieces))))
                    }
                    // The error ends the body; the stream then ends.
                    Err(e) => Some((Err(e), None)),
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use futures_util::TryStreamExt;

    use super::*;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/media")
            .join(name)
    }

    #[tokio::test]
    async fn the_body_from_any_offset_is_the_rest_of_the_extracted_file() {
        for name in ["mp4-aac-moov-end.mp4", "mkv-aac.mkv"] {
            let path = fixture(name);
            let extraction = plan(&path, None, Bar::none())
                .await
                .unwrap()
                .expect("extractable");
            let mut whole = Vec::new();
            extraction
                .write_to(&mut std::fs::File::open(&path).unwrap(), &mut whole)
                .unwrap();
            for offset in (0..=extraction.len).step_by(4099).chain([extraction.len]) {
                let file = tokio::fs::File::open(&path).await.unwrap();
                let chunks: Vec<Vec<u8>> = body_from(file, &extraction, offset)
                    .try_collect()
                    .await
                    .unwrap();
                assert_eq!(
                    chunks.concat(),
                    whole[offset as usize..],
                    "{name} from {offset}"
                );
            }
        }
    }

    #[tokio::test]
    async fn files_that_cannot_be_extracted_are_sent_whole() {
        for name in ["mp4-two-audio.mp4", "ogg-vorbis.ogg", "m4a-alac.m4a"] {
            assert!(
                plan(&fixture(name), None, Bar::none())
                    .await
                    .unwrap()
                    .is_none(),
                "{name}"
            );
        }
        assert!(
            plan(&fixture("mp4-two-audio.mp4"), Some(1), Bar::none())
                .await
                .unwrap()
                .is_some()
        );
    }
}
