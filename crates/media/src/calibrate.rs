//! Measuring how fast this machine converts to a format, for `convert --dry-run`'s estimate.
//!
//! [`calibrate`] writes a few seconds of generated stereo audio (tones, low-passed noise and
//! clicks, like music with a beat) as a WAV into a temporary directory, converts it with the
//! real engine on one thread with the options asked for (trims, loudness and title left out:
//! the estimate model adds the loudness pass itself), timed in CPU time ([`cpu_time`]), and
//! returns the seconds of work per second of audio. A compressed source also has to be
//! decoded, so the figure includes [`DECODE_SECS_PER_SEC`] for that. The run is kept under
//! about a second of CPU: the sample is shorter for the slow encoders (FLAC, ffmpeg's AAC).

use std::io::Write;
use std::time::Duration;

use mp3converter_core::AudioFormat;

use crate::{Control, ConvertOptions, EngineConfig, MediaError};

/// Decoding a compressed source (AAC, MP3) on the reference machine, seconds per second of
/// audio: what a WAV sample does not cost but a real input does.
pub const DECODE_SECS_PER_SEC: f64 = 0.0015;
/// The sample's rate, Hz (that of most video sound tracks' AAC).
const RATE: u32 = 44_100;

/// Seconds of single-thread work per second of audio for `options`' format and encoder
/// settings on this machine, measured by converting generated audio with `config`'s engine
/// (its thread count is ignored: one thread, as the model scales for threads itself).
pub fn calibrate(options: &ConvertOptions, config: &EngineConfig) -> Result<f64, MediaError> {
    let secs = match options.format() {
        AudioFormat::M4a => 5.0,
        AudioFormat::Flac => 20.0,
        AudioFormat::Wav => 30.0,
        AudioFormat::Mp3 | AudioFormat::Opus => 25.0,
    };
    let dir = match &config.temp_dir {
        Some(d) => tempfile::Builder::new().prefix("mp3c-cal-").tempdir_in(d)?,
        None => tempfile::Builder::new().prefix("mp3c-cal-").tempdir()?,
    };
    let sample_options = ConvertOptions {
        start: None,
        end: None,
        loudness: None,
        track: None,
        title: Some("calibration".into()),
        ..options.clone()
    };
    let one_thread = EngineConfig {
        threads: 1,
        ..config.clone()
    };
    // A long and a short run: their difference leaves out the fixed costs (opening the
    // encoder, starting ffmpeg), which the estimate counts once, on its own.
    let short = secs / 5.0;
    let timed = |name: &str, secs: f64| -> Result<f64, MediaError> {
        let input = dir.path().join(format!("{name}.wav"));
        write_sample(&input, secs)?;
        let output = dir
            .path()
            .join(format!("{name}.{}", options.format().extension()));
        let started = cpu_time();
        crate::convert(
            &input,
            &output,
            &sample_options,
            &one_thread,
            Control::none(),
        )?;
        Ok((cpu_time() - started).as_secs_f64())
    };
    let t_short = timed("short", short)?;
    let t_long = timed("long", secs)?;
    let per_sec = if t_long > t_short {
        (t_long - t_short) / (secs - short)
    } else {
        // A busy machine can make the short run the slower: the long run alone, then.
        t_long / secs
    };
    Ok(per_sec + DECODE_SECS_PER_SEC)
}

/// CPU time used so far by this process and by its children that have been waited for (the
/// ffmpeg runs). One-thread samples timed with it are not slowed by whatever else the machine
/// runs, as their wall-clock time would be.
#[allow(unsafe_code)]
pub fn cpu_time() -> Duration {
    let used = |who: libc::c_int| {
        // SAFETY: an all-zero `rusage` is a valid value (integers and timevals only).
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `usage` is a live, writable `rusage`, which is all getrusage writes to.
        if unsafe { libc::getrusage(who, &mut usage) } != 0 {
            return Duration::ZERO;
        }
        let time = |t: libc::timeval| {
            Duration::from_secs(t.tv_sec.max(0) as u64)
                + Duration::from_micros(t.tv_usec.max(0) as u64)
        };
        time(usage.ru_utime) + time(usage.ru_stime)
    };
    used(libc::RUSAGE_SELF) + used(libc::RUSAGE_CHILDREN)
}

/// Writes `secs` of 16-bit stereo test audio at [`RATE`] to `path`.
fn write_sample(path: &std::path::Path, secs: f64) -> Result<(), MediaError> {
    let frames = (secs * f64::from(RATE)) as u32;
    let data_bytes = frames * 4;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    out.write_all(b"RIFF")?;
    out.write_all(&(36 + data_bytes).to_le_bytes())?;
    out.write_all(b"WAVEfmt ")?;
    out.write_all(&16u32.to_le_bytes())?;
    out.write_all(&1u16.to_le_bytes())?; // PCM
    out.write_all(&2u16.to_le_bytes())?;
    out.write_all(&RATE.to_le_bytes())?;
    out.write_all(&(RATE * 4).to_le_bytes())?;
    out.write_all(&4u16.to_le_bytes())?;
    out.write_all(&16u16.to_le_bytes())?;
    out.write_all(b"data")?;
    out.write_all(&data_bytes.to_le_bytes())?;
    let mut seed = 0x2545_f491_u32;
    let mut low = [0.0f32; 2];
    let mut burst = 0.0f32;
    let every = RATE as usize / 2;
    let decay = (-1.0 / (0.01 * RATE as f32)).exp();
    let tau = std::f32::consts::TAU;
    for i in 0..frames as usize {
        let t = i as f32 / RATE as f32;
        if i % every == 0 {
            burst = 0.4;
        }
        burst *= decay;
        for (ch, low) in low.iter_mut().enumerate() {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let white = (seed as f32 / u32::MAX as f32) * 2.0 - 1.0;
            *low = 0.9 * *low + 0.1 * white;
            let f = if ch == 0 { 220.0 } else { 330.0 };
            let swell = 0.6 + 0.4 * (tau * 0.25 * t).sin();
            let x = swell * (0.2 * (tau * f * t).sin() + 0.1 * (tau * 2.5 * f * t).sin())
                + 0.25 * *low
                + burst * white;
            let s = (x.clamp(-1.0, 1.0) * 32_767.0) as i16;
            out.write_all(&s.to_le_bytes())?;
        }
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_a_plausible_speed_for_the_native_formats() {
        for format in [AudioFormat::Mp3, AudioFormat::Wav] {
            let options = ConvertOptions {
                format: Some(format),
                ..ConvertOptions::default()
            };
            let speed = calibrate(&options, &EngineConfig::default()).unwrap();
            // Debug builds are slow; a second of work per second of audio would be absurd.
            assert!(
                speed > DECODE_SECS_PER_SEC && speed < 1.0,
                "{format}: {speed}"
            );
        }
    }

    #[test]
    fn the_sample_is_a_valid_wav_of_the_asked_length() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.wav");
        write_sample(&path, 2.0).unwrap();
        let report = crate::probe(&path, &EngineConfig::default()).unwrap();
        assert_eq!(report.container, "wav");
        let d = report.duration_secs.unwrap();
        assert!((d - 2.0).abs() < 0.01, "{d}");
        assert_eq!(report.audio_streams[0].channels, Some(2));
    }
}
