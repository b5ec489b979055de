//! `POST /api/v1/estimate`: the predicted size of a conversion and when it will be ready, for
//! a duration and the job options, before anything is uploaded.
//!
//! The options are the upload form's fields as JSON values (or all in `options`), validated
//! exactly as job creation validates them. The gateway does not link the engine, so the route
//! is unknown and the speed comes from this service's recent successful jobs of the same format
//! (the time from upload to done, per second of audio: the queue and the storage copies are
//! in it, which is what "ready after upload" means) when there are [`MIN_RECENT_JOBS`] of them,
//! else from the reference machine's table in `mp3converter_core::estimate`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use mp3converter_core::{
    AudioFormat, ConvertOptions, Estimate, EstimateInput, JobState, LOUDNESS_FACTOR, MAX_TIME_SECS,
    Speed, SpeedSource,
};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::GatewayState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiUser;
use crate::form::FormOptions;
use crate::views::OptionsSchema;

/// How many of the newest jobs are read for the speed.
const RECENT_JOBS: u32 = 200;
/// Fewest finished jobs of a format that make a speed figure.
pub(crate) const MIN_RECENT_JOBS: usize = 5;
/// Shortest job counted, seconds of audio (shorter ones are mostly fixed cost).
const MIN_JOB_SECS: f64 = 10.0;
/// The service's fixed cost per job on the reference machine (queue hand-off, storage copies,
/// the converter's probe), seconds: a 10-second clip is done about 0.1 s after its upload.
const SERVICE_OVERHEAD_SECS: f64 = 0.15;

/// The body of `POST /api/v1/estimate` (documentation only; parsed field by field like an
/// import's options): `duration_secs` and the upload form's option fields as JSON values, or
/// all in `options` (separate fields win). An unknown field is refused.
#[derive(ToSchema, Deserialize)]
#[allow(dead_code)]
pub(crate) struct EstimateRequest {
    /// The source's duration, seconds (0–1000000), e.g. as the browser reads it from the file.
    #[schema(minimum = 0, maximum = 1_000_000)]
    duration_secs: f64,
    /// All options as a JSON object (same fields and limits as the separate ones).
    #[schema(value_type = Option<Object>)]
    options: Option<Value>,
    /// A bundle of options (`speech`, `podcast`, `music`, `audiobook`) under the ones given.
    #[schema(pattern = "^(speech|podcast|music|audiobook)$")]
    preset: Option<String>,
    /// The options as separate fields.
    #[serde(flatten)]
    fields: OptionsSchema,
}

/// The prediction (documentation only: `mp3converter_core::Estimate` is what is sent).
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct EstimateView {
    /// The conversion route when known (`native`, `copy`, `ffmpeg`); the API cannot know it.
    route: Option<String>,
    /// The output format.
    #[schema(pattern = "^(mp3|opus|flac|wav|m4a)$")]
    format: String,
    /// Seconds of audio in the output (the kept range).
    duration_secs: f64,
    /// Predicted size of the output, bytes.
    bytes: u64,
    /// True when the size depends on the audio itself (VBR, FLAC, Opus, M4A, WAV at an unknown
    /// source rate); constant-bitrate MP3 is within a few frames.
    bytes_approximate: bool,
    /// Predicted seconds from the upload's end to the audio being ready.
    seconds: f64,
    /// Where the speed came from: `recent jobs` or `reference machine`.
    #[schema(pattern = "^(measured on this machine|recent jobs|reference machine)$")]
    speed_source: String,
}

/// Predict a conversion's output size and time.
#[utoipa::path(post, path = "/api/v1/estimate", tag = "jobs", operation_id = "estimate",
    request_body(content = EstimateRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The prediction", body = EstimateView),
        (status = 400, description = "Not a JSON object (`invalid-json`), a missing or invalid `duration_secs` or invalid options (`invalid-options`), or an unknown field (`unknown-field`)", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub(crate) async fn estimate(
    State(state): State<GatewayState>,
    ApiUser(_caller): ApiUser,
    body: Bytes,
) -> Result<Json<Estimate>, ApiError> {
    let (duration_secs, options) = parse_body(&body)?;
    let speed = match recent_speed(&state, options.format()).await {
        Some(secs_per_sec) => Speed {
            secs_per_sec,
            measure_secs_per_sec: None,
            source: SpeedSource::RecentJobs,
        },
        None => Speed {
            secs_per_sec: mp3converter_core::reference_speed(options.format(), None),
            measure_secs_per_sec: None,
            source: SpeedSource::Reference,
        },
    };
    Ok(Json(mp3converter_core::estimate(&EstimateInput {
        options: &options,
        duration_secs,
        source_rate: None,
        source_channels: None,
        source_bytes: None,
        route: None,
        threads: 1,
        parallel_min_secs: f64::INFINITY,
        parallel_chunk_secs: 0.0,
        speed,
        overhead_secs: match speed.source {
            SpeedSource::RecentJobs => 0.0,
            SpeedSource::Measured | SpeedSource::Reference => SERVICE_OVERHEAD_SECS,
        },
    })))
}

/// The duration and the validated options of a body.
fn parse_body(body: &[u8]) -> Result<(f64, ConvertOptions), ApiError> {
    let fields: serde_json::Map<String, Value> = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(
            "invalid-json",
            format!("the body is not a JSON object: {e}"),
        )
    })?;
    let mut duration = None;
    let mut form = FormOptions::default();
    for (name, value) in fields {
        if name == "duration_secs" {
            duration = value.as_f64();
            if duration.is_none_or(|d| !(0.0..=MAX_TIME_SECS).contains(&d)) {
                return Err(ApiError::bad_request(
                    "invalid-options",
                    "duration_secs must be a number of seconds from 0 to 1000000",
                ));
            }
            continue;
        }
        if matches!(name.as_str(), "keep" | "source_size") {
            return Err(ApiError::bad_request(
                "unknown-field",
                format!("{name} belongs to a job, not to an estimate"),
            ));
        }
        form.add_json(&name, value)?;
    }
    let duration = duration.ok_or_else(|| {
        ApiError::bad_request("invalid-options", "the body needs duration_secs (seconds)")
    })?;
    Ok((duration, form.finish()?))
}

/// The median time from upload to done per second of audio (loudness passes taken out) of the
/// newest finished jobs of `format`, when there are enough of them.
async fn recent_speed(state: &GatewayState, format: AudioFormat) -> Option<f64> {
    let jobs = match state.db.list_jobs(RECENT_JOBS).await {
        Ok(jobs) => jobs,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read recent jobs for an estimate; using the reference speeds");
            return None;
        }
    };
    let mut speeds: Vec<f64> = jobs
        .iter()
        .filter(|j| j.state == JobState::Done && j.options.format() == format)
        .filter_map(|j| {
            let secs = j.duration_secs.filter(|d| *d >= MIN_JOB_SECS)?;
            let elapsed = (j.finished_at? - j.created_at) as f64 / 1000.0;
            let loudness = if j.options.loudness.is_some() {
                LOUDNESS_FACTOR
            } else {
                1.0
            };
            (elapsed >= 0.0).then_some(elapsed / (secs * loudness))
        })
        .collect();
    recent_median(&mut speeds)
}

/// The median of `speeds` when there are at least [`MIN_RECENT_JOBS`].
fn recent_median(speeds: &mut [f64]) -> Option<f64> {
    if speeds.len() < MIN_RECENT_JOBS {
        return None;
    }
    speeds.sort_by(f64::total_cmp);
    Some(speeds[speeds.len() / 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_needs_enough_jobs() {
        assert_eq!(recent_median(&mut [0.1, 0.2, 0.3, 0.4]), None);
        assert_eq!(recent_median(&mut [0.5, 0.1, 0.3, 9.0, 0.2]), Some(0.3));
    }

    #[test]
    fn the_body_is_a_duration_and_the_form_fields() {
        let (d, o) =
            parse_body(br#"{"duration_secs": 3600, "format": "opus", "bitrate": 64}"#).unwrap();
        assert_eq!(d, 3600.0);
        assert_eq!(o.format(), AudioFormat::Opus);
        assert_eq!(o.bitrate, Some(64));
        let (_, o) = parse_body(br#"{"duration_secs": 60, "preset": "podcast"}"#).unwrap();
        assert_eq!(o.bitrate, Some(96));
        for (body, code) in [
            (&br#"{"format": "mp3"}"#[..], "invalid-options"),
            (br#"{"duration_secs": -1}"#, "invalid-options"),
            (br#"{"duration_secs": "60"}"#, "invalid-options"),
            (
                br#"{"duration_secs": 60, "bitrate": 999}"#,
                "invalid-options",
            ),
            (br#"{"duration_secs": 60, "colour": 1}"#, "unknown-field"),
            (br#"{"duration_secs": 60, "keep": true}"#, "unknown-field"),
            (br#"[1]"#, "invalid-json"),
        ] {
            let e = parse_body(body).unwrap_err();
            assert_eq!(e.code, code, "{}", String::from_utf8_lossy(body));
        }
    }
}
