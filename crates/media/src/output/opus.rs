//! Writes an Ogg Opus file (RFC 7845): libopus packets of 20 ms in Ogg pages, behind an OpusHead
//! (channels, pre-skip) and an OpusTags (vendor, then the tags, chapters and cover) header page each.
//!
//! Opus always codes at 48 kHz: the input must already be 48 kHz (the caller resamples). The
//! encoder's lookahead becomes the pre-skip that decoders drop at the start, and the last page's
//! granule position says where the real audio ends, so a decoder returns exactly the samples
//! that were pushed, without the encoder delay or the zeros that pad the last frame.

use std::fs::File;
use std::hash::{Hash, Hasher};
use std::io::{BufWriter, Write};
use std::path::Path;

use ogg::writing::{PacketWriteEndInfo, PacketWriter};
use opus::{Application, Bitrate, Channels, Encoder};

use super::tags::{self, Tagging};
use crate::MediaError;
use crate::sink::{Sink, Written};

/// The only rate Ogg Opus is written at, Hz.
pub(crate) const OPUS_RATE: u32 = 48_000;

/// Samples per channel in one packet: 20 ms.
const FRAME: usize = 960;

/// A page is ended once it holds this much audio (samples per channel at 48 kHz: 1 s)...
const PAGE_SAMPLES: usize = 48_000;

/// ...or this many bytes of packets, as libogg pages are.
const PAGE_BYTES: usize = 4096;

/// The largest packet libopus makes for one 20 ms frame is 1275 bytes; room to spare.
const MAX_PACKET: usize = 4000;

/// How an Opus file is encoded.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OpusSettings {
    /// 1 or 2.
    pub channels: u8,
    /// Target of libopus's unconstrained VBR, 6–510 kbps.
    pub bitrate_kbps: u16,
    /// Tags, cover and chapters, written as OpusTags comments.
    pub tagging: Tagging,
}

/// One libopus encoder writing Ogg pages straight into the file.
pub(crate) struct OpusSink {
    encoder: Encoder,
    ogg: PacketWriter<'static, BufWriter<File>>,
    serial: u32,
    channels: usize,
    /// Encoder lookahead, the OpusHead pre-skip, samples per channel.
    pre_skip: u64,
    /// One interleaved frame being filled.
    frame: Vec<f32>,
    /// Samples per channel in `frame`.
    filled: usize,
    /// Encoder output for one packet.
    packet: Vec<u8>,
    /// The newest packet and its granule position, held back until the next one shows whether
    /// it ends the stream (the last page carries the end-of-stream flag and the trimmed granule).
    held: Option<(Vec<u8>, u64)>,
    packets: u32,
    /// Real samples per channel pushed so far.
    samples: u64,
    page_samples: usize,
    page_bytes: usize,
}

impl std::fmt::Debug for OpusSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusSink")
            .field("channels", &self.channels)
            .field("pre_skip", &self.pre_skip)
            .field("packets", &self.packets)
            .field("samples", &self.samples)
            .finish_non_exhaustive()
    }
}

/// A libopus failure as the engine reports it.
fn opus_error(e: opus::Error) -> MediaError {
    MediaError::Encoder(format!("Opus: {e}"))
}

impl OpusSink {
    /// Creates `path` and writes the two header pages. The samples pushed must be 48 kHz (the
    /// caller resamples). The Ogg stream serial is a hash of the path, so the same audio written
    /// to the same path gives the same bytes.
    pub fn create(path: &Path, settings: &OpusSettings) -> Result<Self, MediaError> {
        let mut h = std::hash::DefaultHasher::new();
        path.hash(&mut h);
        Self::create_with_serial(path, settings, h.finish() as u32)
    }

    /// [`OpusSink::create`] with a chosen Ogg stream serial.
    pub fn create_with_serial(
        path: &Path,
        settings: &OpusSettings,
        serial: u32,
    ) -> Result<Self, MediaError> {
        let channels = match settings.channels {
            1 => Channels::Mono,
            2 => Channels::Stereo,
            n => return Err(MediaError::Encoder(format!("Opus: {n} channels"))),
        };
        if !(6..=510).contains(&settings.bitrate_kbps) {
            return Err(MediaError::Encoder(format!(
                "Opus: a bitrate of {} kbps is outside 6–510",
                settings.bitrate_kbps
            )));
        }
        let mut encoder =
            Encoder::new(OPUS_RATE, channels, Application::Audio).map_err(opus_error)?;
        encoder
            .set_bitrate(Bitrate::Bits(i32::from(settings.bitrate_kbps) * 1000))
            .map_err(opus_error)?;
        encoder.set_vbr(true).map_err(opus_error)?;
        encoder.set_vbr_constraint(false).map_err(opus_error)?;
        encoder.set_complexity(10).map_err(opus_error)?;
        let pre_skip = u16::try_from(encoder.get_lookahead().map_err(opus_error)?)
            .map_err(|_| MediaError::Encoder("Opus: lookahead out of range".into()))?;

        let out = BufWriter::with_capacity(256 << 10, File::create(path)?);
        let mut ogg = PacketWriter::new(out);
        let head = opus_head(settings.channels, pre_skip);
        ogg.write_packet(head, serial, PacketWriteEndInfo::EndPage, 0)?;
        let tags = opus_tags(&settings.tagging);
        ogg.write_packet(tags, serial, PacketWriteEndInfo::EndPage, 0)?;

        let channels = usize::from(settings.channels);
        Ok(OpusSink {
            encoder,
            ogg,
            serial,
            channels,
            pre_skip: u64::from(pre_skip),
            frame: vec![0.0; FRAME * channels],
            filled: 0,
            packet: vec![0; MAX_PACKET],
            held: None,
            packets: 0,
            samples: 0,
            page_samples: 0,
            page_bytes: 0,
        })
    }

    /// Encodes the full `frame` into one packet and queues it.
    fn encode_frame(&mut self) -> Result<(), MediaError> {
        let len = self
            .encoder
            .encode_float(&self.frame, &mut self.packet)
            .map_err(opus_error)?;
        self.filled = 0;
        self.packets += 1;
        let granule = u64::from(self.packets) * FRAME as u64;
        let packet = self.packet[..len].to_vec();
        if let Some((prev, prev_granule)) = self.held.replace((packet, granule)) {
            self.page_samples += FRAME;
            self.page_bytes += prev.len();
            let end = if self.page_samples >= PAGE_SAMPLES || self.page_bytes >= PAGE_BYTES {
                self.page_samples = 0;
                self.page_bytes = 0;
                PacketWriteEndInfo::EndPage
            } else {
                PacketWriteEndInfo::NormalPacket
            };
            self.ogg
                .write_packet(prev, self.serial, end, prev_granule)?;
        }
        Ok(())
    }
}

impl Sink for OpusSink {
    fn push(&mut self, left: &[f32], right: &[f32]) -> Result<(), MediaError> {
        let stereo = self.channels == 2;
        if stereo && right.len() != left.len() || !stereo && !right.is_empty() {
            return Err(MediaError::Encoder(
                "Opus: the channels passed do not match the stream".into(),
            ));
        }
        let mut at = 0;
        while at < left.len() {
            let n = (FRAME - self.filled).min(left.len() - at);
            let dst =
                &mut self.frame[self.filled * self.channels..(self.filled + n) * self.channels];
            if stereo {
                let src = left[at..at + n].iter().zip(&right[at..at + n]);
                for (d, (&l, &r)) in dst.chunks_exact_mut(2).zip(src) {
                    d[0] = l;
                    d[1] = r;
                }
            } else {
                dst.copy_from_slice(&left[at..at + n]);
            }
            self.filled += n;
            at += n;
            if self.filled == FRAME {
                self.encode_frame()?;
            }
        }
        self.samples += left.len() as u64;
        Ok(())
    }

    /// Pads with silence until the encoder has given out every real sample (they come out
    /// `pre_skip` late), and ends the stream with the granule of the last real sample. Fails
    /// with [`MediaError::EmptySelection`] when nothing was pushed, as the MP3 writer does.
    fn finish(mut self: Box<Self>) -> Result<Written, MediaError> {
        if self.samples == 0 {
            return Err(MediaError::EmptySelection);
        }
        let end = self.pre_skip + self.samples;
        while u64::from(self.packets) * (FRAME as u64) < end {
            self.frame[self.filled * self.channels..].fill(0.0);
            self.encode_frame()?;
        }
        let (last, _) = self.held.take().ok_or(MediaError::EmptySelection)?;
        let serial = self.serial;
        self.ogg
            .write_packet(last, serial, PacketWriteEndInfo::EndStream, end)?;
        let mut out = self.ogg.into_inner();
        out.flush()?;
        let file = out
            .into_inner()
            .map_err(|e| MediaError::Io(e.into_error()))?;
        file.sync_data()?;
        Ok(Written {
            bytes: file.metadata()?.len(),
            frames: self.packets,
            rate: OPUS_RATE,
            channels: self.channels as u8,
        })
    }
}

/// The identification header (RFC 7845 §5.1): version 1, no output gain, mapping family 0.
fn opus_head(channels: u8, pre_skip: u16) -> Vec<u8> {
    let mut h = Vec::with_capacity(19);
    h.extend_from_slice(b"OpusHead");
    h.push(1);
    h.push(channels);
    h.extend_from_slice(&pre_skip.to_le_bytes());
    h.extend_from_slice(&OPUS_RATE.to_le_bytes());
    h.extend_from_slice(&0i16.to_le_bytes());
    h.push(0);
    h
}

/// The comment header (RFC 7845 §5.2): libopus's version as the vendor, then the tags,
/// chapters and cover (`METADATA_BLOCK_PICTURE`) as Vorbis comments.
fn opus_tags(tagging: &Tagging) -> Vec<u8> {
    let mut h = b"OpusTags".to_vec();
    h.extend_from_slice(&tags::vorbis_comment_body(opus::version(), tagging, true));
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testaudio::{self, Signal};

    fn settings(channels: u8, title: Option<&str>) -> OpusSettings {
        OpusSettings {
            channels,
            bitrate_kbps: 128,
            tagging: testaudio::titled(title),
        }
    }

    fn encode(path: &Path, s: &Signal, block: usize, title: Option<&str>) -> Written {
        let sink =
            OpusSink::create_with_serial(path, &settings(s.channels, title), 0x4D50_3343).unwrap();
        testaudio::push_in_blocks(Box::new(sink), s, block).unwrap()
    }

    fn round_trip(channels: u8) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.opus");
        let s = Signal::test_tones(OPUS_RATE, channels, 3.3);
        let w = encode(&path, &s, 1000, Some("Größe \u{1F3B5} ünd"));
        assert_eq!((w.rate, w.channels), (OPUS_RATE, channels));
        assert_eq!(w.bytes, std::fs::metadata(&path).unwrap().len());
        // 3.3 s plus the lookahead, in 20 ms packets.
        assert_eq!(w.frames, (158_400u32 + 312).div_ceil(960));

        testaudio::assert_ffmpeg_decodes_cleanly(&path);
        // ffprobe reports the last granule over 48 kHz, pre-skip included (for ffmpeg's own
        // libopus files too); the decoded length below checks the trimming to the sample.
        let duration = testaudio::probe_duration(&path) - 312.0 / 48_000.0;
        assert!((duration - 3.3).abs() < 0.001, "duration {duration}");
        assert_eq!(
            testaudio::probe_title(&path).as_deref(),
            Some("Größe \u{1F3B5} ünd")
        );
        let decoded = testaudio::decode_f32(&path, channels);
        assert_eq!(decoded.len(), s.interleaved().len(), "decoded length");
        for ch in 0..usize::from(channels) {
            let got = testaudio::channel(&decoded, channels, ch);
            let want = s.planar(ch);
            // The pre-skip is right when the decoded transients line up with the input's.
            assert_eq!(testaudio::best_lag(want, &got, 2000), 0, "channel {ch}");
            let r = testaudio::correlation(want, &got);
            assert!(r > 0.9, "channel {ch}: correlation {r}");
        }
    }

    #[test]
    fn stereo_round_trips_through_ffmpeg_aligned_and_exactly_trimmed() {
        round_trip(2);
    }

    #[test]
    fn mono_round_trips_through_ffmpeg_aligned_and_exactly_trimmed() {
        round_trip(1);
    }

    #[test]
    fn the_bytes_do_not_depend_on_the_push_block_size() {
        let dir = tempfile::tempdir().unwrap();
        for channels in [1, 2] {
            let s = Signal::test_tones(OPUS_RATE, channels, 3.3);
            let files: Vec<Vec<u8>> = [1, 1000, 4097]
                .iter()
                .map(|&block| {
                    let path = dir.path().join(format!("{channels}-{block}.opus"));
                    encode(&path, &s, block, None);
                    std::fs::read(path).unwrap()
                })
                .collect();
            assert!(
                files[0] == files[1] && files[1] == files[2],
                "{channels} channels"
            );
        }
    }

    #[test]
    fn headers_follow_rfc_7845() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.opus");
        let s = Signal::test_tones(OPUS_RATE, 2, 3.3);
        encode(&path, &s, 4097, None);
        let pages = testaudio::ogg_pages(&std::fs::read(&path).unwrap());
        // OpusHead and OpusTags alone on the first two pages, granule 0, BOS on the first only.
        assert_eq!(&pages[0].body[..8], b"OpusHead");
        assert_eq!(pages[0].body.len(), 19);
        assert_eq!((pages[0].flags, pages[0].granule), (0x02, 0));
        let pre_skip = u16::from_le_bytes([pages[0].body[10], pages[0].body[11]]);
        assert_eq!(pre_skip, 312);
        assert_eq!(&pages[1].body[..8], b"OpusTags");
        assert_eq!((pages[1].flags, pages[1].granule), (0, 0));
        let tags = String::from_utf8_lossy(&pages[1].body);
        assert!(tags.contains("libopus") && tags.contains("ENCODER=mp3converter"));
        assert!(!tags.contains("TITLE="));
        // Audio pages: granules rising in whole packets, the last one trimmed to the input.
        let last = pages.last().unwrap();
        assert_eq!(last.flags, 0x04);
        assert_eq!(last.granule, 312 + 158_400);
        for p in &pages[2..pages.len() - 1] {
            assert_eq!(p.flags, 0);
            assert_eq!(p.granule % 960, 0);
            assert!(p.body.len() < 4096 + 1275, "page of {} bytes", p.body.len());
        }
        assert!(pages.len() > 2 + 3, "{} pages", pages.len());
    }

    #[test]
    fn finishing_without_audio_is_an_empty_selection() {
        let dir = tempfile::tempdir().unwrap();
        let sink = OpusSink::create(&dir.path().join("e.opus"), &settings(2, None)).unwrap();
        let e = Box::new(sink).finish().unwrap_err();
        assert!(matches!(e, MediaError::EmptySelection), "{e}");
    }

    #[test]
    fn bad_settings_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.opus");
        assert!(OpusSink::create(&p, &settings(3, None)).is_err());
        let low = OpusSettings {
            bitrate_kbps: 5,
            ..settings(2, None)
        };
        assert!(OpusSink::create(&p, &low).is_err());
    }
}
