//! The JSON shapes of the API: a job as the client sees it, and the request bodies.

use mp3converter_core::{ConvertOptions, Job, JobState};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A conversion job. Timestamps are unix milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct JobView {
    /// The job's id (also the `fid` accepted by `GET /download`).
    #[schema(format = Uuid)]
    pub id: String,
    /// The owner's id.
    #[schema(format = Uuid)]
    pub owner_id: String,
    /// `downloading` (a URL import still fetching its video), `queued`, `converting`, `done`,
    /// `failed` or `expired`.
    #[schema(value_type = StateSchema)]
    pub state: JobState,
    /// Progress, 0.0–1.0: of the conversion, or while `downloading` of the download (0 while
    /// the size is unknown).
    pub progress: f64,
    /// The uploaded file's (sanitised) name.
    pub original_name: String,
    /// The requested options.
    #[schema(value_type = OptionsSchema)]
    pub options: ConvertOptions,
    /// Duration of the audio in seconds, once known.
    pub duration_secs: Option<f64>,
    /// Size in bytes of what was uploaded: the video, or only its audio track when the client
    /// extracted it (see `source_size`).
    pub video_size: u64,
    /// Size in bytes of the file the user chose, when the client extracted its audio track on
    /// the user's device and sent only that; null when the whole file was sent.
    pub source_size: Option<u64>,
    /// Size of the audio in bytes, once done.
    pub audio_size: Option<u64>,
    /// Set when the job was done at once by reusing the audio of this earlier job of yours (the
    /// same file content, name and options): nothing was converted again.
    #[schema(format = Uuid)]
    pub reused_from: Option<String>,
    /// Why the job failed, when it did.
    pub error: Option<JobErrorView>,
    /// When the job was created.
    pub created_at: i64,
    /// When the job last changed.
    pub updated_at: i64,
    /// When the job became done or failed.
    pub finished_at: Option<i64>,
    /// Retention leaves this job and its files alone (`PUT /api/v1/jobs/{id}/keep`).
    pub keep: bool,
    /// Where to go next.
    pub links: JobLinks,
}

/// Why a job failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct JobErrorView {
    /// Stable kebab-case code (`no-audio-track`, `unsupported-codec`, ...).
    pub code: String,
    /// The reason in words.
    pub message: String,
}

/// Related URLs of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct JobLinks {
    /// This job.
    #[serde(rename = "self")]
    pub self_: String,
    /// The audio download; present once the job is done.
    pub audio: Option<String>,
    /// The job's live events (SSE).
    pub events: String,
}

impl From<&Job> for JobView {
    fn from(job: &Job) -> Self {
        let base = format!("/api/v1/jobs/{}", job.id);
        let error = job.error_code.as_ref().map(|code| JobErrorView {
            code: code.clone(),
            message: job.error_message.clone().unwrap_or_default(),
        });
        JobView {
            id: job.id.to_string(),
            owner_id: job.owner_id.to_string(),
            state: job.state,
            progress: job.progress,
            original_name: job.original_name.clone(),
            options: job.options.clone(),
            duration_secs: job.duration_secs,
            video_size: job.video_size,
            source_size: job.source_size,
            audio_size: job.audio_size,
            reused_from: job.reused_from.as_ref().map(ToString::to_string),
            error,
            created_at: job.created_at,
            updated_at: job.updated_at,
            finished_at: job.finished_at,
            keep: job.keep,
            links: JobLinks {
                audio: (job.state == JobState::Done).then(|| format!("{base}/audio")),
                events: format!("{base}/events"),
                self_: base,
            },
        }
    }
}

/// The state of a job (documentation of [`JobState`]'s serde form).
#[derive(ToSchema)]
#[schema(as = JobState, rename_all = "snake_case")]
#[allow(dead_code)]
pub(crate) enum StateSchema {
    Downloading,
    Queued,
    Converting,
    Done,
    Failed,
    Expired,
}

/// Conversion options (documentation of [`ConvertOptions`]'s serde form). Every field is
/// optional; unknown fields are refused. (`Deserialize` only so that `ImportRequest` can
/// flatten it into its documentation.)
#[derive(ToSchema, Deserialize)]
#[schema(as = ConvertOptions)]
#[allow(dead_code)]
pub(crate) struct OptionsSchema {
    /// Output format: `mp3` (default), `opus` (Ogg Opus), `flac`, `wav` (16-bit PCM) or `m4a`
    /// (AAC-LC). The download's `Content-Type` and file extension follow it.
    #[schema(value_type = Option<String>, pattern = "^(mp3|opus|flac|wav|m4a)$")]
    format: Option<String>,
    /// Constant bitrate in kbps: MP3 and M4A 32–320 (default 192), Opus 6–510 (default 128);
    /// not for FLAC or WAV. Exclusive with `vbr`.
    #[schema(minimum = 6, maximum = 510)]
    bitrate: Option<u16>,
    /// LAME VBR quality, 0 (best) to 9 (smallest); MP3 only. Exclusive with `bitrate`.
    #[schema(minimum = 0, maximum = 9)]
    vbr: Option<u8>,
    /// Output sample rate in Hz. MP3: 8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100 or
    /// 48000; M4A: those and 64000, 88200, 96000; Opus: 48000; FLAC and WAV: 8000–192000.
    #[schema(minimum = 8000, maximum = 192000)]
    sample_rate: Option<u32>,
    /// Mix down to one channel.
    mono: Option<bool>,
    /// Start of the kept range, seconds (0–1000000).
    #[schema(minimum = 0, maximum = 1_000_000)]
    start: Option<f64>,
    /// End of the kept range, seconds (0–1000000), after `start`.
    #[schema(minimum = 0, maximum = 1_000_000)]
    end: Option<f64>,
    /// Normalise to this integrated loudness, LUFS (−70 to −5; EBU R128, two passes, true peak
    /// under −1 dBTP): −16 for podcasts, −23 for broadcast, −14 for streaming.
    #[schema(minimum = -70, maximum = -5)]
    loudness: Option<f64>,
    /// Which audio track, counted among audio tracks from 0 (0–255).
    #[schema(minimum = 0, maximum = 255)]
    track: Option<u16>,
    /// Title tag: at most 200 characters, no control characters.
    #[schema(max_length = 200, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    title: Option<String>,
    /// Artist tag (default: the source's): at most 200 characters, no control characters.
    #[schema(max_length = 200, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    artist: Option<String>,
    /// Album tag (default: the source's): at most 200 characters, no control characters.
    #[schema(max_length = 200, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    album: Option<String>,
    /// Date tag (default: the source's): `YYYY`, `YYYY-MM` or `YYYY-MM-DD`.
    #[schema(pattern = r"^[0-9]{4}(-[0-9]{2}(-[0-9]{2})?)?$")]
    date: Option<String>,
    /// Genre tag (default: the source's): at most 200 characters, no control characters.
    #[schema(max_length = 200, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    genre: Option<String>,
    /// Track-number tag, 1–9999 (default: the source's; `track` chooses the audio track).
    #[schema(minimum = 1, maximum = 9999)]
    track_number: Option<u32>,
    /// Comment tag (default: the source's): at most 200 characters, no control characters.
    #[schema(max_length = 200, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    comment: Option<String>,
    /// `true` to leave out the source's tags and cover (the job's own are still written).
    no_tags: Option<bool>,
    /// Take the cover from the video's picture at this many seconds (0–1000000); not with a
    /// `cover` picture.
    #[schema(minimum = 0, maximum = 1_000_000)]
    cover_from_video: Option<f64>,
    /// One file per `chapters` or per part between `silence`s, delivered as one ZIP with an
    /// M3U playlist.
    #[schema(pattern = "^(chapters|silence)$")]
    split: Option<String>,
    /// `split=silence` only: the level under which audio counts as silence, dBFS (−90 to −10,
    /// default −45).
    #[schema(minimum = -90, maximum = -10)]
    split_threshold: Option<f64>,
    /// `split=silence` only: the shortest silence between two parts, seconds (0.3–60, default 2).
    #[schema(minimum = 0.3, maximum = 60)]
    split_min_gap: Option<f64>,
    /// True when the job came with its own cover picture (the upload's `cover` part). Set by
    /// the server; a request that sets it without sending the picture is refused.
    #[schema(read_only)]
    cover: Option<bool>,
}

/// The caller, from the verified token.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MeView {
    /// The user's id.
    #[schema(format = Uuid)]
    pub id: String,
    /// The login email.
    pub email: String,
    /// True for administrators.
    pub admin: bool,
    /// The caller's limits in force (null: no limit).
    pub limits: crate::Limits,
    /// What the caller uses now.
    pub usage: crate::Usage,
}

/// Body of `POST /api/v1/users`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserRequest {
    /// The login email: `local@domain` in ASCII, at most 254 characters (stored lowercased).
    // The emails `POST /api/v1/users` is documented to accept: RFC 5322 `atext` (at most 64), `@`,
    // hostname labels. The auth service also accepts dots inside the local part; the document
    // states the simpler subset that a regular expression without look-ahead can bound.
    #[schema(
        max_length = 254,
        pattern = r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
    )]
    pub email: String,
    /// The initial password, 8–1024 characters.
    #[schema(min_length = 8, max_length = 1024)]
    pub password: String,
    /// Make the user an administrator.
    #[serde(default)]
    pub admin: bool,
}

/// Body of `PUT /api/v1/me/password`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    /// The current password.
    pub old_password: String,
    /// The new password, 8–1024 characters.
    #[schema(min_length = 8, max_length = 1024)]
    pub new_password: String,
}

/// A live job event, the `data:` of every server-sent event (documentation of `JobEvent`).
#[derive(ToSchema)]
#[schema(as = JobEvent)]
#[allow(dead_code)]
pub(crate) struct EventSchema {
    /// The job.
    #[schema(format = Uuid)]
    job_id: String,
    /// Its owner.
    #[schema(format = Uuid)]
    owner_id: String,
    /// The state after the change.
    state: StateSchema,
    /// Conversion progress, 0.0–1.0.
    progress: f64,
    /// Stable reason code when failed.
    error_code: Option<String>,
    /// Reason in words when failed.
    error_message: Option<String>,
}
