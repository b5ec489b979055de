//! Codecs in short words, as probe reports and error messages name them (`aac`, `mp3`, `opus`,
//! profile `HE-AAC`, ...).

use symphonia::core::codecs::CodecProfile;
use symphonia::core::codecs::audio::AudioCodecId;
use symphonia::core::codecs::audio::well_known::profiles::{
    CODEC_PROFILE_AAC_HE, CODEC_PROFILE_AAC_HE_V2, CODEC_PROFILE_AAC_LC, CODEC_PROFILE_AAC_MAIN,
};
use symphonia::core::codecs::audio::well_known::*;

/// A codec in short words (`aac`, `mp3`, `opus`, ...).
pub(crate) fn codec_name(id: AudioCodecId) -> String {
    let name = match id {
        CODEC_ID_AAC => "aac",
        CODEC_ID_MP3 => "mp3",
        CODEC_ID_MP2 => "mp2",
        CODEC_ID_MP1 => "mp1",
        CODEC_ID_FLAC => "flac",
        CODEC_ID_VORBIS => "vorbis",
        CODEC_ID_OPUS => "opus",
        CODEC_ID_ALAC => "alac",
        CODEC_ID_AC3 => "ac3",
        CODEC_ID_EAC3 => "eac3",
        CODEC_ID_AC4 => "ac4",
        CODEC_ID_DCA => "dts",
        CODEC_ID_TRUEHD => "truehd",
        CODEC_ID_WMA => "wma",
        CODEC_ID_SPEEX => "speex",
        CODEC_ID_WAVPACK => "wavpack",
        CODEC_ID_MONKEYS_AUDIO => "ape",
        CODEC_ID_TTA => "tta",
        CODEC_ID_PCM_ALAW => "pcm_alaw",
        CODEC_ID_PCM_MULAW => "pcm_mulaw",
        CODEC_ID_ADPCM_MS | CODEC_ID_ADPCM_IMA_WAV | CODEC_ID_ADPCM_IMA_QT => "adpcm",
        other => {
            return match symphonia::default::get_codecs().get_audio_decoder(other) {
                Some(d) => d.codec.info.short_name.to_string(),
                None => format!("codec {other}"),
            };
        }
    };
    name.to_string()
}

/// An AAC profile in short words (`LC`, `Main`, `HE-AAC`, `HE-AACv2`); `None` for the others.
pub(crate) fn profile_name(profile: CodecProfile) -> Option<String> {
    let name = match profile {
        CODEC_PROFILE_AAC_LC => "LC",
        CODEC_PROFILE_AAC_MAIN => "Main",
        CODEC_PROFILE_AAC_HE => "HE-AAC",
        CODEC_PROFILE_AAC_HE_V2 => "HE-AACv2",
        _ => return None,
    };
    Some(name.to_string())
}
