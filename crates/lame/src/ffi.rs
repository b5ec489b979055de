//! The LAME functions the encoder calls, from whichever compiled copy suits this CPU.
//!
//! `build.rs` compiles LAME twice on x86-64: a baseline copy and an x86-64-v3 one (AVX2, FMA,
//! BMI2…), which runs the same arithmetic in the same order, so both write the same bytes. The
//! first encoder picks the v3 copy when the CPU has every feature of that level, unless
//! `MP3C_LAME_CPU=baseline` says otherwise; [`Build::active`] tells which one runs.

use std::ffi::{c_char, c_float, c_int, c_uchar};
use std::sync::OnceLock;

/// LAME's encoder state, opaque here.
#[repr(C)]
pub(crate) struct Flags {
    _private: [u8; 0],
}

/// `MPEG_mode` in lame.h.
pub(crate) const JOINT_STEREO: c_int = 1;
/// `MPEG_mode` in lame.h.
pub(crate) const MONO: c_int = 3;
/// `vbr_mode` in lame.h: CBR.
pub(crate) const VBR_OFF: c_int = 0;
/// `vbr_mode` in lame.h: `vbr_default`, which is `vbr_mtrh`.
pub(crate) const VBR_DEFAULT: c_int = 4;

/// Declares the functions once and derives from the list: the table type, the baseline copy's
/// `extern` block and the v3 copy's (the same names behind an `mp3c_v3_` prefix).
macro_rules! lame_api {
    ($($name:ident($($arg:ty),*) $(-> $ret:ty)?;)*) => {
        /// One compiled copy of LAME: a pointer to each function the encoder calls.
        #[allow(non_snake_case)]
        pub(crate) struct Api {
            $(pub(crate) $name: unsafe extern "C" fn($($arg),*) $(-> $ret)?,)*
        }

        impl std::fmt::Debug for Api {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct("Api").finish_non_exhaustive()
            }
        }

        #[allow(non_snake_case)]
        mod baseline {
            use super::*;
            unsafe extern "C" {
                $(pub(super) fn $name($(_: $arg),*) $(-> $ret)?;)*
            }
            pub(super) const API: Api = Api { $($name,)* };
        }

        #[cfg(lame_v3)]
        #[allow(non_snake_case)]
        mod v3 {
            use super::*;
            unsafe extern "C" {
                $(
                    #[link_name = concat!("mp3c_v3_", stringify!($name))]
                    pub(super) fn $name($(_: $arg),*) $(-> $ret)?;
                )*
            }
            pub(super) const API: Api = Api { $($name,)* };
        }
    };
}

lame_api! {
    lame_init() -> *mut Flags;
    lame_close(*mut Flags) -> c_int;
    lame_init_params(*mut Flags) -> c_int;
    lame_set_num_channels(*mut Flags, c_int) -> c_int;
    lame_set_in_samplerate(*mut Flags, c_int) -> c_int;
    lame_set_out_samplerate(*mut Flags, c_int) -> c_int;
    lame_set_mode(*mut Flags, c_int) -> c_int;
    lame_set_quality(*mut Flags, c_int) -> c_int;
    lame_set_bWriteVbrTag(*mut Flags, c_int) -> c_int;
    lame_set_write_id3tag_automatic(*mut Flags, c_int);
    lame_set_disable_reservoir(*mut Flags, c_int) -> c_int;
    lame_set_VBR(*mut Flags, c_int) -> c_int;
    lame_set_brate(*mut Flags, c_int) -> c_int;
    lame_set_VBR_q(*mut Flags, c_int) -> c_int;
    lame_get_framesize(*const Flags) -> c_int;
    lame_get_encoder_delay(*const Flags) -> c_int;
    lame_encode_buffer_ieee_float(*mut Flags, *const c_float, *const c_float, c_int, *mut c_uchar, c_int) -> c_int;
    lame_encode_flush(*mut Flags, *mut c_uchar, c_int) -> c_int;
}

unsafe extern "C" {
    /// The version string, e.g. "3.100" (the same in both copies).
    pub(crate) fn get_lame_short_version() -> *const c_char;
}

/// Which compiled copy of LAME encodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Build {
    /// Compiled for every x86-64 CPU (SSE2), or for the target's baseline elsewhere.
    Baseline,
    /// Compiled for x86-64-v3 (AVX2, FMA, BMI1/2, F16C, LZCNT, MOVBE); about 5–10 % less CPU in LAME.
    X86_64V3,
}

impl Build {
    /// The copy this process uses: v3 when the CPU supports it, unless the environment variable
    /// `MP3C_LAME_CPU` is `baseline`. Decided once.
    pub fn active() -> Build {
        static ACTIVE: OnceLock<Build> = OnceLock::new();
        *ACTIVE.get_or_init(|| {
            let forced = std::env::var("MP3C_LAME_CPU").is_ok_and(|v| v == "baseline");
            if !forced && Build::X86_64V3.supported() {
                Build::X86_64V3
            } else {
                Build::Baseline
            }
        })
    }

    /// Whether this binary has this copy and the CPU can run it.
    pub fn supported(self) -> bool {
        match self {
            Build::Baseline => true,
            Build::X86_64V3 => v3_supported(),
        }
    }

    /// A short name for logs and `version` output.
    pub fn name(self) -> &'static str {
        match self {
            Build::Baseline => "baseline",
            Build::X86_64V3 => "x86-64-v3",
        }
    }

    /// The function table of this copy. Only call with a supported build.
    pub(crate) fn api(self) -> &'static Api {
        match self {
            #[cfg(lame_v3)]
            Build::X86_64V3 if v3_supported() => &v3::API,
            _ => &baseline::API,
        }
    }
}

#[cfg(lame_v3)]
fn v3_supported() -> bool {
    std::is_x86_feature_detected!("avx2")
        && std::is_x86_feature_detected!("fma")
        && std::is_x86_feature_detected!("bmi1")
        && std::is_x86_feature_detected!("bmi2")
        && std::is_x86_feature_detected!("f16c")
        && std::is_x86_feature_detected!("lzcnt")
        && std::is_x86_feature_detected!("movbe")
}

#[cfg(not(lame_v3))]
fn v3_supported() -> bool {
    false
}
