//! Turns ffprobe's JSON (`-print_format json -show_format -show_streams`) into a [`ProbeReport`].

use serde_json::Value;

use crate::{AudioStream, MediaError, Pipeline, ProbeReport};

/// ffprobe formats that mean "not audio or video" (text shown as ANSI art, still images).
const NOT_MEDIA_FORMATS: [&str; 3] = ["tty", "image2", "lavfi"];

/// Parses ffprobe's JSON output.
pub(super) fn parse_report(json: &[u8]) -> Result<ProbeReport, MediaError> {
    let root: Value = serde_json::from_slice(json)
        .map_err(|e| MediaError::corrupt(format!("ffprobe printed unreadable JSON: {e}")))?;
    let format = &root["format"];
    let Some(format_name) = format["format_name"].as_str() else {
        return Err(MediaError::NotMedia);
    };
    let first = format_name.split(',').next().unwrap_or_default();
    if NOT_MEDIA_FORMATS.contains(&first) || first.ends_with("_pipe") {
        return Err(MediaError::NotMedia);
    }
    let audio_streams: Vec<AudioStream> = root["streams"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|s| s["codec_type"] == "audio")
        .enumerate()
        .map(|(index, s)| AudioStream {
            index,
            codec: s["codec_name"].as_str().unwrap_or("unknown").to_owned(),
            profile: s["profile"]
                .as_str()
                .filter(|p| *p != "unknown")
                .map(str::to_owned),
            sample_rate: number(&s["sample_rate"])
                .map(|r| r as u32)
                .filter(|r| *r > 0),
            channels: number(&s["channels"]).map(|c| c as u32).filter(|c| *c > 0),
            language: tag(s, "language").filter(|l| l != "und"),
            title: tag(s, "title"),
            duration_secs: number(&s["duration"])
                .or_else(|| tag(s, "DURATION").as_deref().and_then(parse_clock))
                .filter(|d| d.is_finite() && *d >= 0.0),
        })
        .collect();
    let duration_secs = number(&format["duration"])
        .filter(|d| d.is_finite() && *d >= 0.0)
        .or_else(|| {
            audio_streams
                .iter()
                .filter_map(|s| s.duration_secs)
                .reduce(f64::max)
        });
    Ok(ProbeReport {
        container: container_name(first).to_owned(),
        duration_secs,
        audio_streams,
        title: tag(format, "title"),
        route: Pipeline::Ffmpeg,
        route_reason: None,
    })
}

/// The short container name for ffprobe's first `format_name` entry.
pub(super) fn container_name(ffprobe_name: &str) -> &str {
    match ffprobe_name {
        "mov" | "mp4" | "m4a" | "3gp" => "mp4",
        "matroska" | "webm" => "matroska",
        "mpeg" | "vob" => "mpegps",
        "aac" => "adts",
        "asf" | "asf_o" => "asf",
        other => other,
    }
}

/// A JSON number, or a string holding one (ffprobe prints most numbers as strings).
fn number(v: &Value) -> Option<f64> {
    v.as_f64().or_else(|| v.as_str()?.trim().parse().ok())
}

/// A tag of `obj`, matched case-insensitively (Matroska tags are upper-case), non-empty.
fn tag(obj: &Value, key: &str) -> Option<String> {
    let tags = obj["tags"].as_object()?;
    let (_, value) = tags.iter().find(|(k, _)| k.eq_ignore_ascii_case(key))?;
    value
        .as_str()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// Parses `HH:MM:SS.fraction` (Matroska's `DURATION` tag) into seconds.
fn parse_clock(s: &str) -> Option<f64> {
    let mut parts = s.trim().splitn(3, ':');
    let h: f64 = parts.next()?.parse().ok()?;
    let m: f64 = parts.next()?.parse().ok()?;
    let sec: f64 = parts.next()?.parse().ok()?;
    Some(h * 3600.0 + m * 60.0 + sec)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MKV: &str = r#"{
        "streams": [
            {"index": 0, "codec_name": "h264", "codec_type": "video", "profile": "High"},
            {"index": 1, "codec_name": "aac", "codec_type": "audio", "profile": "HE-AAC",
             "sample_rate": "48000", "channels": 6,
             "tags": {"language": "eng", "title": "Surround", "DURATION": "00:01:02.500000000"}},
            {"index": 2, "codec_name": "ac3", "codec_type": "audio", "sample_rate": "44100",
             "channels": 2, "duration": "61.000000", "tags": {"language": "und"}}
        ],
        "format": {"format_name": "matroska,webm", "duration": "62.520000",
                   "tags": {"TITLE": "A Film"}}
    }"#;

    #[test]
    fn reads_streams_tags_and_durations() {
        let r = parse_report(MKV.as_bytes()).unwrap();
        assert_eq!(r.container, "matroska");
        assert_eq!(r.duration_secs, Some(62.52));
        assert_eq!(r.title.as_deref(), Some("A Film"));
        assert_eq!(
            (r.route, r.route_reason.as_deref()),
            (Pipeline::Ffmpeg, None)
        );
        assert_eq!(r.audio_streams.len(), 2);
        let a = &r.audio_streams[0];
        assert_eq!(
            (a.index, a.codec.as_str(), a.profile.as_deref()),
            (0, "aac", Some("HE-AAC"))
        );
        assert_eq!((a.sample_rate, a.channels), (Some(48_000), Some(6)));
        assert_eq!(
            (a.language.as_deref(), a.title.as_deref()),
            (Some("eng"), Some("Surround"))
        );
        assert_eq!(a.duration_secs, Some(62.5));
        let b = &r.audio_streams[1];
        assert_eq!(
            (b.index, b.codec.as_str(), b.profile.as_deref()),
            (1, "ac3", None)
        );
        assert_eq!((b.language.as_deref(), b.duration_secs), (None, Some(61.0)));
    }

    #[test]
    fn maps_container_names() {
        for (ffprobe, short) in [
            ("mov,mp4,m4a,3gp,3g2,mj2", "mp4"),
            ("mpeg", "mpegps"),
            ("mpegts", "mpegts"),
            ("avi", "avi"),
            ("flv", "flv"),
            ("asf", "asf"),
            ("aac", "adts"),
            ("ogg", "ogg"),
        ] {
            let json = format!(r#"{{"streams": [], "format": {{"format_name": "{ffprobe}"}}}}"#);
            let r = parse_report(json.as_bytes()).unwrap();
            assert_eq!(r.container, short, "{ffprobe}");
            assert_eq!((r.duration_secs, r.audio_streams.len()), (None, 0));
        }
    }

    #[test]
    fn duration_falls_back_to_the_longest_audio_stream() {
        let json = r#"{"streams": [
            {"codec_type": "audio", "codec_name": "mp2", "duration": "2.5"},
            {"codec_type": "audio", "codec_name": "mp2", "duration": "3.5"}],
            "format": {"format_name": "mpeg", "duration": "N/A"}}"#;
        assert_eq!(
            parse_report(json.as_bytes()).unwrap().duration_secs,
            Some(3.5)
        );
    }

    #[test]
    fn text_images_and_garbage_are_not_media() {
        for name in ["tty", "png_pipe", "image2"] {
            let json = format!(r#"{{"streams": [], "format": {{"format_name": "{name}"}}}}"#);
            assert!(
                matches!(parse_report(json.as_bytes()), Err(MediaError::NotMedia)),
                "{name}"
            );
        }
        assert!(matches!(parse_report(b"{}"), Err(MediaError::NotMedia)));
        assert!(matches!(
            parse_report(b"{ not json"),
            Err(MediaError::Corrupt { .. })
        ));
    }
}
