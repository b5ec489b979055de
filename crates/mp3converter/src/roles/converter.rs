//! The converter role: workers that take `video` messages, convert, store the audio and finish
//! the job with its `mp3` message. Readiness: the database, the queue, storage, and ffmpeg when
//! the engine is configured to always use it (`converter.engine.engine = "ffmpeg"`).

use mp3converter_converter::Tunable as _;
use std::time::Duration;

use mp3converter_converter::{Converter, ConverterDeps};
use mp3converter_media::EngineChoice;

use super::{Builder, Context};

/// Adds the converter worker and its checks.
pub(super) fn add(cx: &Context<'_>, parts: &mut Builder) {
    let (config, backends) = (cx.config, cx.backends);
    let converter = Converter::new(
        ConverterDeps {
            db: backends.db.clone(),
            queue: backends.queue.clone(),
            storage: backends.storage.clone(),
            events: backends.events.clone(),
            video_queue: config.queue.video_queue.clone(),
            mp3_queue: config.queue.mp3_queue.clone(),
            lease: Duration::from_secs(config.queue.lease_secs),
        },
        config.converter.clone(),
    )
    .with_shutdown_grace(super::worker_grace(config));
    parts.worker(converter.into_worker());

    parts.check_database(backends);
    parts.check_queue(backends);
    parts.check_storage(backends);
    tracing::info!(encoder = %mp3converter_media::mp3_encoder(), "MP3 encoder");
    let engine = config.converter.engine.clone();
    if engine.engine == EngineChoice::Ffmpeg {
        parts.check("ffmpeg", move || {
            let engine = engine.clone();
            async move {
                let path = engine.ffmpeg_path.display().to_string();
                let found = tokio::task::spawn_blocking(move || {
                    mp3converter_media::ffmpeg_available(&engine)
                })
                .await
                .unwrap_or(false);
                match found {
                    true => Ok(()),
                    false => Err(format!(
                        "{path} cannot be run (converter.engine.ffmpeg_path)"
                    )),
                }
            }
        });
    }
}
