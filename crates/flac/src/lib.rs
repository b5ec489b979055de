//! A small safe binding to the reference FLAC encoder, libFLAC 1.5 (built from source by
//! `libflac-sys`, without its Ogg support: nothing is linked from the system at run time).
//!
//! This crate and `crates/lame` are the crates of mp3converter that hold `unsafe` code: every
//! FFI call into libFLAC, and the callbacks libFLAC makes back, are here, behind an [`Encoder`]
//! that owns its `FLAC__StreamEncoder` and frees it on drop (after an error too).
//!
//! The encoder is streaming: [`Encoder::encode`] hands back the frames libFLAC has finished, and
//! [`Encoder::finish`] the last frame and the final STREAMINFO. The stream header libFLAC writes
//! when it starts (`fLaC`, STREAMINFO and its own VORBIS_COMMENT) is dropped: the caller writes
//! its own header and metadata blocks and patches STREAMINFO in at the end.

// The FFI calls need `unsafe`; the workspace denies it everywhere else (see the root Cargo.toml).
#![allow(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]

use std::ffi::{CStr, c_void};
use std::ptr::NonNull;

use libflac_sys as ffi;

/// Length of a STREAMINFO block's body (FLAC format §8.2).
pub const STREAMINFO_LEN: usize = 34;

/// Samples per channel in every frame but the last.
pub const BLOCK_SIZE: u32 = 4096;

/// Most interleaved values handed to libFLAC in one call (keeps the count within `u32`).
const MAX_CALL: usize = 1 << 16;

/// Encoder parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Sample rate in Hz, 1 – 1 048 575 (FLAC's 20-bit field).
    pub rate: u32,
    /// 1 – 8.
    pub channels: u8,
    /// 4 – 24 (the engine uses 16).
    pub bits_per_sample: u8,
    /// libFLAC's compression level, 0 (fastest) – 8; 5 is the default of both `flac` and
    /// `ffmpeg -c:a flac`.
    pub level: u8,
    /// Stereo only: choose between left/right and mid/side coding from a cheap estimate, with a
    /// full trial of all four channel codings only every few frames, instead of the full trial
    /// in every frame that levels 2, 5 and up do (levels 1 and 4 set this themselves). At level
    /// 5 on 180 s of stereo: 0.23 s of CPU instead of 0.31 s, files within 0.05 % of the size
    /// (docs/benchmarks.md, "Output formats"); ffmpeg's encoder estimates the same way.
    pub loose_mid_side: bool,
}

impl Config {
    /// 16-bit samples at compression level 5 with loose mid-side stereo.
    pub fn new(rate: u32, channels: u8) -> Self {
        Config {
            rate,
            channels,
            bits_per_sample: 16,
            level: 5,
            loose_mid_side: true,
        }
    }
}

/// Why libFLAC refused to start or to encode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlacError {
    /// `FLAC__stream_encoder_new` returned null (out of memory).
    #[error("libFLAC could not allocate an encoder")]
    Alloc,
    /// A parameter is out of range (checked before libFLAC sees it).
    #[error("libFLAC refused the setting {0}")]
    Setting(&'static str),
    /// `FLAC__stream_encoder_init_stream` failed; libFLAC's status name.
    #[error("libFLAC could not start ({0})")]
    Init(String),
    /// The input does not fit the stream (length not a multiple of the channel count, or a
    /// sample outside the range of `bits_per_sample`).
    #[error("libFLAC refused the samples: {0}")]
    Input(&'static str),
    /// The encoder stopped while encoding or finishing; libFLAC's state name.
    #[error("libFLAC failed while encoding ({0})")]
    Encode(String),
}

/// What libFLAC's callbacks write into. Lives on the heap at a fixed address for as long as the
/// encoder, which gets it as its `client_data`.
#[derive(Debug, Default)]
struct Shared {
    /// Frame bytes not yet handed to the caller.
    frames: Vec<u8>,
    /// Frames written so far.
    frame_count: u32,
    /// The final STREAMINFO body, set by the metadata callback in `finish`.
    stream_info: Option<[u8; STREAMINFO_LEN]>,
}

/// One libFLAC stream encoder. Not `Sync`; `Send` so that it can move between threads.
#[derive(Debug)]
pub struct Encoder {
    raw: NonNull<ffi::FLAC__StreamEncoder>,
    /// Owned: made by `Box::into_raw` in `new`, freed in `drop` after the encoder is deleted.
    shared: NonNull<Shared>,
    channels: usize,
    /// Largest sample magnitude `bits_per_sample` allows (positive side).
    max: i32,
}

// SAFETY: the libFLAC encoder and `Shared` are plain heap state with no thread affinity (the
// encoder is single-threaded: `num_threads` stays 1); `Encoder` hands out no references to
// either, so moving it to another thread is sound.
unsafe impl Send for Encoder {}

/// libFLAC's write callback: keeps frame bytes, drops the stream header (`samples == 0`).
unsafe extern "C" fn write_callback(
    _encoder: *const ffi::FLAC__StreamEncoder,
    buffer: *const ffi::FLAC__byte,
    bytes: usize,
    samples: u32,
    _current_frame: u32,
    client_data: *mut c_void,
) -> ffi::FLAC__StreamEncoderWriteStatus {
    if samples == 0 {
        // "fLaC" and the metadata blocks written at init: the caller writes its own.
        return ffi::FLAC__STREAM_ENCODER_WRITE_STATUS_OK;
    }
    if buffer.is_null() || client_data.is_null() {
        return ffi::FLAC__STREAM_ENCODER_WRITE_STATUS_FATAL_ERROR;
    }
    // SAFETY: `client_data` is the `Shared` this encoder was initialised with; libFLAC calls back
    // only from within an FFI call made by `Encoder`, which holds no other reference to it
    // meanwhile. `buffer` holds `bytes` bytes for the duration of the call (libFLAC's contract).
    unsafe {
        let shared = &mut *client_data.cast::<Shared>();
        shared
            .frames
            .extend_from_slice(std::slice::from_raw_parts(buffer, bytes));
        shared.frame_count = shared.frame_count.saturating_add(1);
    }
    ffi::FLAC__STREAM_ENCODER_WRITE_STATUS_OK
}

/// libFLAC's metadata callback, called once by `FLAC__stream_encoder_finish` with the final
/// STREAMINFO.
unsafe extern "C" fn metadata_callback(
    _encoder: *const ffi::FLAC__StreamEncoder,
    metadata: *const ffi::FLAC__StreamMetadata,
    client_data: *mut c_void,
) {
    if metadata.is_null() || client_data.is_null() {
        return;
    }
    // SAFETY: `metadata` points to a valid block for the duration of the call; `client_data` is
    // as in `write_callback`.
    unsafe {
        let m = &*metadata;
        if m.type_ != ffi::FLAC__METADATA_TYPE_STREAMINFO {
            return;
        }
        // SAFETY: the union holds `stream_info` for a STREAMINFO block.
        let info = m.data.stream_info;
        (*client_data.cast::<Shared>()).stream_info = Some(pack_stream_info(&info));
    }
}

/// The STREAMINFO body (FLAC format §8.2) for libFLAC's struct.
fn pack_stream_info(i: &ffi::FLAC__StreamMetadata_StreamInfo) -> [u8; STREAMINFO_LEN] {
    let mut s = [0u8; STREAMINFO_LEN];
    s[0..2].copy_from_slice(&(i.min_blocksize as u16).to_be_bytes());
    s[2..4].copy_from_slice(&(i.max_blocksize as u16).to_be_bytes());
    s[4..7].copy_from_slice(&i.min_framesize.to_be_bytes()[1..]);
    s[7..10].copy_from_slice(&i.max_framesize.to_be_bytes()[1..]);
    let packed = (u64::from(i.sample_rate & 0xF_FFFF) << 44)
        | (u64::from(i.channels.wrapping_sub(1) & 7) << 41)
        | (u64::from(i.bits_per_sample.wrapping_sub(1) & 31) << 36)
        | (i.total_samples & ((1 << 36) - 1));
    s[10..18].copy_from_slice(&packed.to_be_bytes());
    s[18..34].copy_from_slice(&i.md5sum);
    s
}

impl Encoder {
    /// Creates and starts an encoder: MD5 on, verification off, fixed block size
    /// [`BLOCK_SIZE`], the compression level's other settings as libFLAC defines them (then
    /// loose mid-side if asked), one thread.
    pub fn new(config: &Config) -> Result<Self, FlacError> {
        if !(1..=8).contains(&config.channels) {
            return Err(FlacError::Setting("channels"));
        }
        if !(4..=24).contains(&config.bits_per_sample) {
            return Err(FlacError::Setting("bits per sample"));
        }
        if config.rate == 0 || config.rate >= 1 << 20 {
            return Err(FlacError::Setting("sample rate"));
        }
        if config.level > 8 {
            return Err(FlacError::Setting("compression level"));
        }
        // SAFETY: no preconditions; a null return is handled.
        let raw =
            NonNull::new(unsafe { ffi::FLAC__stream_encoder_new() }).ok_or(FlacError::Alloc)?;
        let shared = NonNull::from(Box::leak(Box::<Shared>::default()));
        // From here on `drop` frees both, whatever fails below.
        let encoder = Encoder {
            raw,
            shared,
            channels: usize::from(config.channels),
            max: (1 << (config.bits_per_sample - 1)) - 1,
        };
        encoder.start(config)?;
        Ok(encoder)
    }

    fn start(&self, c: &Config) -> Result<(), FlacError> {
        let e = self.raw.as_ptr();
        let check = |ok: ffi::FLAC__bool, what: &'static str| {
            if ok == 0 {
                Err(FlacError::Setting(what))
            } else {
                Ok(())
            }
        };
        // SAFETY: `e` is a live, uninitialised encoder owned by `self`; the setters only store
        // values. `FLAC__format_sample_rate_is_subset` is a pure function.
        unsafe {
            // The compression level first: it sets the block size and the other parameters,
            // which the calls after it then override.
            check(
                ffi::FLAC__stream_encoder_set_compression_level(e, u32::from(c.level)),
                "compression level",
            )?;
            check(
                ffi::FLAC__stream_encoder_set_channels(e, u32::from(c.channels)),
                "channels",
            )?;
            check(
                ffi::FLAC__stream_encoder_set_bits_per_sample(e, u32::from(c.bits_per_sample)),
                "bits per sample",
            )?;
            check(
                ffi::FLAC__stream_encoder_set_sample_rate(e, c.rate),
                "sample rate",
            )?;
            check(
                ffi::FLAC__stream_encoder_set_blocksize(e, BLOCK_SIZE),
                "block size",
            )?;
            check(ffi::FLAC__stream_encoder_set_verify(e, 0), "verify")?;
            if c.loose_mid_side && c.channels == 2 {
                check(
                    ffi::FLAC__stream_encoder_set_loose_mid_side_stereo(e, 1),
                    "loose mid-side stereo",
                )?;
            }
            // The MD5 of the samples is always on: libFLAC's public API has no switch for it.
            // The "streamable subset" only limits what a decoder must support; a rate outside it
            // (e.g. 100 001 Hz, not a multiple of 10 above 65 535) is still valid FLAC, and the
            // compression levels never choose anything else outside the subset.
            let subset = ffi::FLAC__format_sample_rate_is_subset(c.rate);
            check(
                ffi::FLAC__stream_encoder_set_streamable_subset(e, subset),
                "streamable subset",
            )?;
            let status = ffi::FLAC__stream_encoder_init_stream(
                e,
                Some(write_callback),
                None,
                None,
                Some(metadata_callback),
                self.shared.as_ptr().cast(),
            );
            if status != ffi::FLAC__STREAM_ENCODER_INIT_STATUS_OK {
                return Err(FlacError::Init(init_status_name(status)));
            }
        }
        Ok(())
    }

    /// Encodes interleaved samples (any number of whole sample frames) and appends to `out` the
    /// frame bytes libFLAC has finished so far (it keeps up to one block until more arrives or
    /// [`Encoder::finish`]). Every sample must fit in `bits_per_sample` bits.
    pub fn encode(&mut self, interleaved: &[i32], out: &mut Vec<u8>) -> Result<(), FlacError> {
        if !interleaved.len().is_multiple_of(self.channels) {
            return Err(FlacError::Input(
                "the sample count is not a multiple of the channels",
            ));
        }
        // libFLAC checks the range too, but only reports a "client error": say what it is.
        let (max, min) = (self.max, -self.max - 1);
        if interleaved.iter().any(|&v| v > max || v < min) {
            return Err(FlacError::Input(
                "a sample is outside the bit depth's range",
            ));
        }
        let per_call = MAX_CALL - MAX_CALL % self.channels;
        for chunk in interleaved.chunks(per_call) {
            let frames = (chunk.len() / self.channels) as u32;
            // SAFETY: live, initialised encoder; `chunk` holds `frames × channels` values, which
            // libFLAC reads during the call only. Callbacks reach `Shared`, which nothing else
            // borrows during the call.
            let ok = unsafe {
                ffi::FLAC__stream_encoder_process_interleaved(
                    self.raw.as_ptr(),
                    chunk.as_ptr(),
                    frames,
                )
            };
            self.take(out);
            if ok == 0 {
                return Err(FlacError::Encode(self.state_name()));
            }
        }
        Ok(())
    }

    /// Frames written so far (the last one counts once [`Encoder::finish`] has run).
    pub fn frames(&self) -> u32 {
        // SAFETY: `shared` is owned by `self` and no FFI call is running.
        unsafe { self.shared.as_ref() }.frame_count
    }

    /// Encodes the last, shorter block, appends it to `out` and returns the final STREAMINFO
    /// body: block and frame size bounds, rate, channels, bits per sample, total samples, MD5.
    pub fn finish(mut self, out: &mut Vec<u8>) -> Result<[u8; STREAMINFO_LEN], FlacError> {
        // SAFETY: live, initialised encoder; callbacks as in `encode`.
        let ok = unsafe { ffi::FLAC__stream_encoder_finish(self.raw.as_ptr()) };
        self.take(out);
        if ok == 0 {
            return Err(FlacError::Encode(self.state_name()));
        }
        // SAFETY: as in `frames`.
        unsafe { self.shared.as_ref() }
            .stream_info
            .ok_or_else(|| FlacError::Encode("no STREAMINFO at the end".into()))
    }

    /// Moves the finished frame bytes to `out`.
    fn take(&mut self, out: &mut Vec<u8>) {
        // SAFETY: `shared` is owned by `self` and no FFI call is running.
        let shared = unsafe { self.shared.as_mut() };
        if out.is_empty() {
            std::mem::swap(out, &mut shared.frames);
        } else {
            out.append(&mut shared.frames);
        }
    }

    /// libFLAC's name for its current state, e.g. `FLAC__STREAM_ENCODER_CLIENT_ERROR`.
    fn state_name(&self) -> String {
        // SAFETY: live encoder; the returned pointer is a static NUL-terminated string (or null,
        // handled).
        unsafe {
            let s = ffi::FLAC__stream_encoder_get_resolved_state_string(self.raw.as_ptr());
            if s.is_null() {
                "unknown state".into()
            } else {
                CStr::from_ptr(s).to_string_lossy().into_owned()
            }
        }
    }
}

/// libFLAC's name for an init status, e.g. `FLAC__STREAM_ENCODER_INIT_STATUS_INVALID_SAMPLE_RATE`.
fn init_status_name(status: ffi::FLAC__StreamEncoderInitStatus) -> String {
    // The table has one entry per status, up to ALREADY_INITIALIZED (13).
    if status > ffi::FLAC__STREAM_ENCODER_INIT_STATUS_ALREADY_INITIALIZED {
        return format!("status {status}");
    }
    // SAFETY: `status` indexes within the static table of NUL-terminated strings (checked
    // above); `addr_of!` avoids creating a reference to the zero-length extern array.
    unsafe {
        let table = std::ptr::addr_of!(ffi::FLAC__StreamEncoderInitStatusString)
            .cast::<*const std::ffi::c_char>();
        let s = *table.add(status as usize);
        if s.is_null() {
            format!("status {status}")
        } else {
            CStr::from_ptr(s).to_string_lossy().into_owned()
        }
    }
}

impl Drop for Encoder {
    fn drop(&mut self) {
        // SAFETY: `raw` came from FLAC__stream_encoder_new and is deleted exactly once, here
        // (deleting finishes an encoder still running, without calling the metadata callback,
        // and may still call the write callback, so `shared` is freed after). `shared` came
        // from `Box::leak` in `new` and is freed exactly once, here.
        unsafe {
            ffi::FLAC__stream_encoder_delete(self.raw.as_ptr());
            drop(Box::from_raw(self.shared.as_ptr()));
        }
    }
}

/// The libFLAC version string, e.g. "1.5.0".
pub fn version() -> String {
    // SAFETY: FLAC__VERSION_STRING is set once at load time to a static NUL-terminated string and
    // never written again.
    unsafe {
        let s = *std::ptr::addr_of!(ffi::FLAC__VERSION_STRING);
        if s.is_null() {
            return String::new();
        }
        CStr::from_ptr(s).to_string_lossy().into_owned()
    }
}

#[cfg(test)]
mod tests;
