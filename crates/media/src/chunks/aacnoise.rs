//! Telling whether AAC noise substitution (PNS) reaches a chunk, so AAC can be cut exactly.
//!
//! symphonia's AAC decoder fills PNS bands from one random generator that runs through the
//! whole stream (seeded once, not per frame), so after a seek its noise differs from one pass's.
//! Audio without PNS in the kept range does not depend on the generator at all. To know which it
//! is, a *shadow* decoder decodes the same packets with its generator moved on: it first decodes
//! a crafted packet made of one PNS band per channel. Where the two decoders' output agrees, no
//! noise reached it and it equals one pass's; where it differs, the chunk falls back to decoding
//! from the start (`window.rs`), and the planner calls a stream whose first seconds use PNS
//! whole.

use symphonia::core::codecs::audio::{AudioCodecParameters, AudioDecoder, AudioDecoderOptions};
use symphonia::core::packet::Packet;
use symphonia::core::units::{Duration, Timestamp};

/// A raw AAC-LC frame (`raw_data_block`) with one SCE (mono) or CPE (stereo, no common window)
/// whose channels each hold a single band (sfb 0) coded as noise, and the end element. Decoding
/// it draws a few values from the decoder's noise generator and nothing else.
fn noise_frame(channels: usize) -> Vec<u8> {
    let mut w = BitWriter::default();
    let ics = |w: &mut BitWriter| {
        w.put(100, 8); // global_gain
        w.put(0, 1); // ics_reserved_bit
        w.put(0, 2); // window_sequence: ONLY_LONG
        w.put(0, 1); // window_shape
        w.put(1, 6); // max_sfb: one band
        w.put(0, 1); // predictor_data_present
        w.put(13, 4); // sect_cb: NOISE_HCB
        w.put(1, 5); // sect_len: 1
        w.put(256, 9); // first noise energy, PCM-coded (offset 256: no change)
        w.put(0, 1); // pulse_data_present
        w.put(0, 1); // tns_data_present
        w.put(0, 1); // gain_control_data_present
    };
    if channels == 1 {
        w.put(0, 3); // ID_SCE
        w.put(0, 4); // element_instance_tag
        ics(&mut w);
    } else {
        w.put(1, 3); // ID_CPE
        w.put(0, 4); // element_instance_tag
        w.put(0, 1); // common_window
        ics(&mut w);
        ics(&mut w);
    }
    w.put(7, 3); // ID_END
    w.finish()
}

/// A second decoder for `params` whose noise generator is ahead of a fresh one's, or `None`
/// when the stream is not one this check understands (more than two channels, or the crafted
/// frame does not decode).
pub(crate) fn shadow_decoder(params: &AudioCodecParameters) -> Option<Box<dyn AudioDecoder>> {
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(params, &AudioDecoderOptions::default())
        .ok()?;
    advance_noise(decoder.as_mut(), params).then_some(decoder)
}

/// Resets `decoder` and moves its noise generator on by decoding the crafted frame; false when
/// the frame does not decode.
pub(crate) fn advance_noise(decoder: &mut dyn AudioDecoder, params: &AudioCodecParameters) -> bool {
    let channels = params.channels.as_ref().map_or(0, |c| c.count());
    if !matches!(channels, 1 | 2) {
        return false;
    }
    decoder.reset();
    let packet = Packet::new(
        0,
        Timestamp::new(0),
        Duration::new(1024),
        noise_frame(channels),
    );
    let ok = decoder.decode(&packet).is_ok();
    decoder.reset();
    ok
}

/// Frames after which the shadow decoder's state is the real stream's but for the noise.
const SETTLE_PACKETS: u32 = 3;

/// True when `input`'s first `secs` seconds of AAC decode differently with the noise generator
/// moved on: the stream uses PNS (or the check cannot be made).
pub(crate) fn uses_noise(
    input: &std::path::Path,
    track: Option<usize>,
    secs: u32,
) -> Result<bool, crate::MediaError> {
    let mut opened = crate::decode::open(input, track)?;
    let Some(mut shadow) = shadow_decoder(&opened.params) else {
        return Ok(true);
    };
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(&opened.params, &AudioDecoderOptions::default())
        .map_err(crate::decode::map_error)?;
    let rate = u64::from(opened.params.sample_rate.unwrap_or(48_000));
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let mut decoded = 0u64;
    let mut packets = 0;
    while decoded < u64::from(secs) * rate {
        let Ok(Some(packet)) = opened.reader.next_packet() else {
            break;
        };
        if packet.track_id != opened.track_id {
            continue;
        }
        let (Ok(x), Ok(y)) = (decoder.decode(&packet), shadow.decode(&packet)) else {
            return Ok(true);
        };
        x.copy_to_vecs_planar::<f32>(&mut a);
        y.copy_to_vecs_planar::<f32>(&mut b);
        // The first frames also carry the crafted frame's window and overlap.
        packets += 1;
        if packets > SETTLE_PACKETS && a != b {
            return Ok(true);
        }
        decoded += a.first().map_or(0, Vec::len) as u64;
    }
    Ok(false)
}

#[derive(Default)]
struct BitWriter {
    bytes: Vec<u8>,
    bits: u32,
}

impl BitWriter {
    /// Appends the low `n` bits of `value`, most significant first.
    fn put(&mut self, value: u32, n: u32) {
        for i in (0..n).rev() {
            if self.bits.is_multiple_of(8) {
                self.bytes.push(0);
            }
            if (value >> i) & 1 == 1 {
                let last = self.bytes.len() - 1;
                self.bytes[last] |= 0x80 >> (self.bits % 8);
            }
            self.bits += 1;
        }
    }

    fn finish(self) -> Vec<u8> {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_are_written_most_significant_first() {
        let mut w = BitWriter::default();
        w.put(1, 3);
        w.put(0b1_1110_0001, 9);
        assert_eq!(w.finish(), [0b0011_1110, 0b0001_0000]);
    }

    /// The crafted frame decodes for mono (SCE) and stereo (CPE) AAC, and moves the generator
    /// on: a noisy low-rate stream then decodes differently.
    #[test]
    fn the_crafted_frame_decodes_and_moves_the_noise_on_in_mono_and_stereo() {
        if !crate::ffmpeg_available(&crate::EngineConfig::default()) {
            eprintln!("skipping: ffmpeg is not installed");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        // Chords with noise at 48 kb/s: ffmpeg's encoder codes the noise's top bands as PNS.
        let graph = "aevalsrc='0.2*sin(2*PI*220*t)+0.2*sin(2*PI*330*t)|0.2*sin(2*PI*277*t)'\
                     :s=44100:d=6[a];anoisesrc=color=white:amplitude=0.2:seed=3:r=44100:d=6,\
                     aformat=channel_layouts=stereo[n];[a][n]amix=inputs=2:normalize=0";
        for channels in ["1", "2"] {
            let path = dir.path().join(format!("noise-{channels}.m4a"));
            let out = std::process::Command::new("ffmpeg")
                .args(["-v", "error", "-y", "-filter_complex", graph])
                .args(["-ac", channels, "-c:a", "aac", "-b:a", "48k"])
                .arg(&path)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let opened = crate::decode::open(&path, None).unwrap();
            assert!(
                shadow_decoder(&opened.params).is_some(),
                "{channels} channel(s)"
            );
            assert!(
                uses_noise(&path, None, 30).unwrap(),
                "{channels} channel(s)"
            );
        }
    }

    #[test]
    fn the_noise_frame_is_an_sce_or_a_cpe_then_end() {
        // SCE: 3 + 4 + 40 bits of ICS + 3 = 50 bits.
        assert_eq!(noise_frame(1).len(), 7);
        assert_eq!(noise_frame(1)[0] >> 5, 0);
        assert_eq!(noise_frame(2)[0] >> 5, 1);
    }
}
