//! A small safe binding to LAME 3.100 (vendored in `lame-3.100/` and built by `build.rs`: on
//! x86-64 a baseline copy and an AVX2 one chosen at run time, see [`Build`]).
//!
//! This is the one crate of mp3converter that holds `unsafe` code: every FFI call is here,
//! behind an [`Encoder`] that owns its `lame_global_flags` and frees it on drop. It exposes what
//! the engine needs and the higher-level crates do not: disabling the bit reservoir (for
//! chunk-parallel encoding), the encoder delay (for the gapless info frame) and planar float
//! input.

// The FFI calls need `unsafe`; the workspace denies it everywhere else (see the root Cargo.toml).
#![allow(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod ffi;
mod guard;

use std::ffi::c_int;
use std::ptr::NonNull;

pub use ffi::Build;

/// The sample rates MPEG-1/2/2.5 Layer III can carry; LAME is only ever given these.
pub const MP3_RATES: [u32; 9] = [8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000];

/// How the encoder spends bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Constant bitrate in kbps.
    Cbr(u16),
    /// LAME's default VBR (mtrh) at quality 0 (best) – 9 (smallest).
    Vbr(u8),
}

/// Encoder parameters. Input and output share one sample rate: resampling happens before LAME.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Sample rate of the PCM given to [`Encoder::encode`], which must be a rate MP3 can carry.
    pub sample_rate: u32,
    /// 1 or 2.
    pub channels: u8,
    /// CBR or VBR.
    pub mode: Mode,
    /// LAME's algorithm quality, 0 (best, slowest) – 9; 3 is what ffmpeg's libmp3lame uses.
    pub quality: u8,
    /// Disable the bit reservoir so that every frame stands alone (chunk-parallel encoding).
    pub disable_reservoir: bool,
}

impl Settings {
    /// Joint-stereo (or mono) settings with LAME quality 3 and the reservoir on.
    pub fn new(sample_rate: u32, channels: u8, mode: Mode) -> Self {
        Settings {
            sample_rate,
            channels,
            mode,
            quality: 3,
            disable_reservoir: false,
        }
    }
}

/// Why LAME refused to start or to encode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LameError {
    /// `lame_init` returned null (out of memory).
    #[error("LAME could not allocate an encoder")]
    Alloc,
    /// A parameter was refused.
    #[error("LAME refused the setting {0}")]
    Setting(&'static str),
    /// `lame_init_params` failed (an unsupported combination of rate, channels and bitrate).
    #[error("LAME refused the parameter combination ({0})")]
    Params(String),
    /// The encoder returned an error code.
    #[error("LAME failed while encoding (code {0})")]
    Encode(i32),
}

/// One LAME encoder instance. Not `Sync`; `Send` so that chunk encoders can run on threads.
#[derive(Debug)]
pub struct Encoder {
    api: &'static ffi::Api,
    gfp: NonNull<ffi::Flags>,
    channels: u8,
    scratch: Vec<u8>,
    /// Clamped copies of input that LAME must not see as it is (see `guard`).
    safe_left: Vec<f32>,
    safe_right: Vec<f32>,
}

// SAFETY: a lame_global_flags is plain heap state with no thread affinity; `Encoder` gives out no
// shared references to it, so moving it to another thread is sound.
unsafe impl Send for Encoder {}

impl Encoder {
    /// Creates and initialises an encoder. No ID3 tag and no info frame are written by LAME: the
    /// engine writes its own, so that one-pass, chunk-parallel and copied streams share one code path.
    pub fn new(settings: &Settings) -> Result<Self, LameError> {
        Encoder::with_build(settings, Build::active())
    }

    /// [`Encoder::new`] on a given compiled copy of LAME (the tests compare them); one the CPU
    /// cannot run falls back to the baseline.
    pub fn with_build(settings: &Settings, build: Build) -> Result<Self, LameError> {
        let api = build.api();
        if !(1..=2).contains(&settings.channels) {
            return Err(LameError::Setting("channels"));
        }
        if !MP3_RATES.contains(&settings.sample_rate) {
            return Err(LameError::Setting("sample rate"));
        }
        // SAFETY: lame_init has no preconditions; a null return is handled.
        let gfp = NonNull::new(unsafe { (api.lame_init)() }).ok_or(LameError::Alloc)?;
        let encoder = Encoder {
            api,
            gfp,
            channels: settings.channels,
            scratch: Vec::new(),
            safe_left: Vec::new(),
            safe_right: Vec::new(),
        };
        encoder.configure(settings)?;
        Ok(encoder)
    }

    fn configure(&self, s: &Settings) -> Result<(), LameError> {
        let g = self.gfp.as_ptr();
        let api = self.api;
        let check = |rc: c_int, what: &'static str| {
            if rc < 0 {
                Err(LameError::Setting(what))
            } else {
                Ok(())
            }
        };
        let rate = c_int::try_from(s.sample_rate).map_err(|_| LameError::Setting("sample rate"))?;
        let mode = if s.channels == 1 {
            ffi::MONO
        } else {
            ffi::JOINT_STEREO
        };
        // SAFETY: `g` is a live encoder owned by `self`; the setters only store values.
        unsafe {
            check(
                (api.lame_set_num_channels)(g, c_int::from(s.channels)),
                "channels",
            )?;
            check((api.lame_set_in_samplerate)(g, rate), "sample rate")?;
            check((api.lame_set_out_samplerate)(g, rate), "sample rate")?;
            check((api.lame_set_mode)(g, mode), "mode")?;
            check(
                (api.lame_set_quality)(g, c_int::from(s.quality.min(9))),
                "quality",
            )?;
            check((api.lame_set_bWriteVbrTag)(g, 0), "info frame")?;
            (api.lame_set_write_id3tag_automatic)(g, 0);
            check(
                (api.lame_set_disable_reservoir)(g, c_int::from(s.disable_reservoir)),
                "reservoir",
            )?;
            match s.mode {
                Mode::Cbr(kbps) => {
                    check((api.lame_set_VBR)(g, ffi::VBR_OFF), "cbr")?;
                    check((api.lame_set_brate)(g, c_int::from(kbps)), "bitrate")?;
                }
                Mode::Vbr(q) => {
                    check((api.lame_set_VBR)(g, ffi::VBR_DEFAULT), "vbr")?;
                    check(
                        (api.lame_set_VBR_q)(g, c_int::from(q.min(9))),
                        "vbr quality",
                    )?;
                }
            }
            let rc = (api.lame_init_params)(g);
            if rc < 0 {
                return Err(LameError::Params(format!(
                    "{} Hz, {} channel(s), {:?}",
                    s.sample_rate, s.channels, s.mode
                )));
            }
        }
        Ok(())
    }

    /// Samples per channel in one MP3 frame (1152 for MPEG-1 rates, 576 below 32 kHz).
    pub fn frame_size(&self) -> usize {
        // SAFETY: live encoder, getter only.
        usize::try_from(unsafe { (self.api.lame_get_framesize)(self.gfp.as_ptr()) }).unwrap_or(1152)
    }

    /// Samples of silence LAME puts before the first input sample (written to the info frame so
    /// decoders can skip it).
    pub fn encoder_delay(&self) -> u32 {
        // SAFETY: live encoder, getter only.
        u32::try_from(unsafe { (self.api.lame_get_encoder_delay)(self.gfp.as_ptr()) })
            .unwrap_or(576)
    }

    /// Encodes planar float PCM (nominal range ±1.0) and appends any finished frames to `out`.
    /// `right` is ignored for a mono encoder and required (same length as `left`) for stereo.
    /// NaN is encoded as silence and magnitudes beyond ±4.0 as ±4.0: LAME would abort the
    /// process on them.
    pub fn encode(
        &mut self,
        left: &[f32],
        right: &[f32],
        out: &mut Vec<u8>,
    ) -> Result<(), LameError> {
        let stereo = self.channels == 2;
        if stereo && right.len() != left.len() {
            return Err(LameError::Setting("channel lengths differ"));
        }
        for start in (0..left.len()).step_by(1 << 16) {
            let end = (start + (1 << 16)).min(left.len());
            let n = end - start;
            // Worst case from lame.h: 1.25 × samples + 7200 bytes.
            let cap = n + n / 4 + 7200;
            self.scratch.resize(cap, 0);
            let l = guard::safe(&left[start..end], &mut self.safe_left);
            let r = if stereo {
                guard::safe(&right[start..end], &mut self.safe_right)
            } else {
                l
            };
            // SAFETY: both input pointers cover `n` floats; the output buffer holds `cap` bytes
            // and LAME writes at most `cap`. `n` and `cap` fit in c_int (n ≤ 65536).
            let written = unsafe {
                (self.api.lame_encode_buffer_ieee_float)(
                    self.gfp.as_ptr(),
                    l.as_ptr(),
                    r.as_ptr(),
                    n as c_int,
                    self.scratch.as_mut_ptr(),
                    cap as c_int,
                )
            };
            self.take(written, out)?;
        }
        Ok(())
    }

    /// Pads the last frame, encodes everything still buffered and appends it to `out`.
    pub fn flush(&mut self, out: &mut Vec<u8>) -> Result<(), LameError> {
        self.scratch.resize(7200 * 2, 0);
        // SAFETY: the buffer holds the stated number of bytes (lame.h: ≥ 7200 needed).
        let written = unsafe {
            (self.api.lame_encode_flush)(
                self.gfp.as_ptr(),
                self.scratch.as_mut_ptr(),
                self.scratch.len() as c_int,
            )
        };
        self.take(written, out)
    }

    fn take(&mut self, written: c_int, out: &mut Vec<u8>) -> Result<(), LameError> {
        let n = usize::try_from(written).map_err(|_| LameError::Encode(written))?;
        out.extend_from_slice(&self.scratch[..n]);
        Ok(())
    }
}

impl Drop for Encoder {
    fn drop(&mut self) {
        // SAFETY: `gfp` came from lame_init and is closed exactly once, here.
        unsafe {
            (self.api.lame_close)(self.gfp.as_ptr());
        }
    }
}

/// The LAME version string, e.g. "3.100".
pub fn version() -> String {
    // SAFETY: get_lame_short_version returns a pointer to a static NUL-terminated string.
    unsafe { std::ffi::CStr::from_ptr(ffi::get_lame_short_version()) }
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(n: usize, rate: u32) -> Vec<f32> {
        (0..n)
            .map(|i| (i as f32 * 440.0 * std::f32::consts::TAU / rate as f32).sin() * 0.5)
            .collect()
    }

    #[test]
    fn encodes_cbr_frames_of_the_expected_size() {
        let mut enc = Encoder::new(&Settings::new(48_000, 2, Mode::Cbr(192))).unwrap();
        assert_eq!(enc.frame_size(), 1152);
        let pcm = tone(48_000, 48_000);
        let mut out = Vec::new();
        enc.encode(&pcm, &pcm, &mut out).unwrap();
        enc.flush(&mut out).unwrap();
        // 192 kbps at 48 kHz: every frame is exactly 576 bytes and starts with a sync word.
        assert_eq!(out.len() % 576, 0, "{} bytes", out.len());
        assert!(out.chunks(576).all(|f| f[0] == 0xFF && f[1] & 0xE0 == 0xE0));
        let frames = out.len() / 576;
        assert!((42..=45).contains(&frames), "{frames} frames for 1 s");
    }

    #[test]
    fn mono_vbr_and_low_rates_work() {
        let mut enc = Encoder::new(&Settings::new(22_050, 1, Mode::Vbr(4))).unwrap();
        assert_eq!(enc.frame_size(), 576);
        let mut out = Vec::new();
        enc.encode(&tone(22_050, 22_050), &[], &mut out).unwrap();
        enc.flush(&mut out).unwrap();
        assert!(out.len() > 1000);
        assert!(enc.encoder_delay() > 0);
    }

    #[test]
    fn samples_that_abort_lame_are_encoded_instead() {
        // Each of these used to end the process in a C assert (NaN/inf in the psychoacoustic
        // model, 10^6 noise in the quantiser).
        let mut x: u32 = 12345;
        let loud_noise: Vec<f32> = (0..44_100)
            .map(|_| {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                ((x >> 8) as f32 / 8_388_608.0 - 1.0) * 1e6
            })
            .collect();
        for pcm in [
            vec![f32::NAN; 44_100],
            vec![f32::INFINITY; 44_100],
            loud_noise,
        ] {
            let mut enc = Encoder::new(&Settings::new(44_100, 2, Mode::Cbr(128))).unwrap();
            let mut out = Vec::new();
            enc.encode(&pcm, &pcm, &mut out).unwrap();
            enc.flush(&mut out).unwrap();
            assert!(out.len() > 10_000, "{} bytes", out.len());
        }
    }

    /// Chords, a decaying click every 0.3 s and some noise: enough going on that the psychoacoustic
    /// model, the quantiser and the bit reservoir all have work to do.
    fn music_like(seconds: usize) -> (Vec<f32>, Vec<f32>) {
        let rate = 44_100.0;
        let mut x: u32 = 7;
        let mut noise = move || {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 8) as f32 / 8_388_608.0 - 1.0
        };
        (0..seconds * 44_100)
            .map(|i| {
                let t = i as f32 / rate;
                let chord: f32 = [220.0, 277.2, 329.6, 440.0]
                    .iter()
                    .map(|f| (t * f * std::f32::consts::TAU).sin() * 0.15)
                    .sum();
                let click = (-40.0 * (t % 0.3)).exp() * (t * 90.0 * std::f32::consts::TAU).sin();
                let n = noise() * 0.05;
                (
                    chord + 0.5 * click + n,
                    chord * 0.8 - 0.3 * click + noise() * 0.05,
                )
            })
            .unzip()
    }

    #[test]
    fn the_cpu_specific_copy_writes_the_same_bytes_as_the_baseline() {
        if !Build::X86_64V3.supported() {
            eprintln!("skipped: this CPU (or target) has no x86-64-v3 copy of LAME to compare");
            return;
        }
        let (left, right) = music_like(6);
        for mode in [Mode::Cbr(192), Mode::Cbr(64), Mode::Vbr(2)] {
            let encode = |build| {
                let mut enc = Encoder::with_build(&Settings::new(44_100, 2, mode), build).unwrap();
                let mut out = Vec::new();
                enc.encode(&left, &right, &mut out).unwrap();
                enc.flush(&mut out).unwrap();
                out
            };
            let baseline = encode(Build::Baseline);
            let v3 = encode(Build::X86_64V3);
            assert!(
                baseline.len() > 20_000,
                "{mode:?}: {} bytes",
                baseline.len()
            );
            assert!(baseline == v3, "{mode:?}: the two copies of LAME disagree");
        }
    }

    #[test]
    fn refuses_bad_parameters() {
        assert_eq!(
            Encoder::new(&Settings::new(44_100, 3, Mode::Cbr(128))).unwrap_err(),
            LameError::Setting("channels")
        );
        assert_eq!(
            Encoder::new(&Settings::new(96_000, 2, Mode::Cbr(128))).unwrap_err(),
            LameError::Setting("sample rate")
        );
        assert!(version().starts_with("3.100"));
    }
}
