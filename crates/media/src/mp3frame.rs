//! MPEG audio frame headers, the Xing/Info/LAME frame, and a quick summary of an MP3 file.
//!
//! Pure parsing with no decoding: the ffmpeg path reads its own output back with
//! [`Mp3Summary::read`] to report rate, channels and duration, and the copy path uses the same
//! header and info-frame parsing to walk and re-tag the frames of an MP3 source.

// Parts of the API (TOC, encoder name, layer I/II) are here for the MP3 copy path.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

/// MPEG audio version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MpegVersion {
    /// MPEG-1 (32, 44.1, 48 kHz).
    V1,
    /// MPEG-2 LSF (16, 22.05, 24 kHz).
    V2,
    /// MPEG-2.5 (8, 11.025, 12 kHz).
    V25,
}

/// MPEG audio layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layer {
    /// Layer I.
    L1,
    /// Layer II (MP2).
    L2,
    /// Layer III (MP3).
    L3,
}

/// Channel mode from the frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChannelMode {
    /// Two independent channels.
    Stereo,
    /// Joint (mid/side or intensity) stereo.
    JointStereo,
    /// Two unrelated mono channels.
    DualChannel,
    /// One channel.
    Mono,
}

/// One decoded 4-byte MPEG audio frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FrameHeader {
    /// MPEG version.
    pub version: MpegVersion,
    /// Layer.
    pub layer: Layer,
    /// True when a 16-bit CRC follows the header.
    pub crc: bool,
    /// Bitrate in kbps; `None` for free format.
    pub bitrate_kbps: Option<u32>,
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// True when the frame carries one extra padding slot.
    pub padding: bool,
    /// Channel mode.
    pub channel_mode: ChannelMode,
}

/// Bitrates (kbps) by index 1–14; index 0 is free format, 15 is invalid.
const BITRATES_V1_L1: [u16; 15] = [
    0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448,
];
const BITRATES_V1_L2: [u16; 15] = [
    0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384,
];
pub(crate) const BITRATES_V1_L3: [u16; 15] = [
    0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
];
const BITRATES_V2_L1: [u16; 15] = [
    0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256,
];
pub(crate) const BITRATES_V2_L23: [u16; 15] =
    [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];

impl FrameHeader {
    /// Parses a frame header; `None` when the bytes are not a valid one (no sync, a reserved
    /// version, layer, bitrate, sample rate or emphasis value).
    pub fn parse(b: [u8; 4]) -> Option<FrameHeader> {
        let h = u32::from_be_bytes(b);
        if h >> 21 != 0x7ff {
            return None;
        }
        let version = match (h >> 19) & 3 {
            0 => MpegVersion::V25,
            2 => MpegVersion::V2,
            3 => MpegVersion::V1,
            _ => return None,
        };
        let layer = match (h >> 17) & 3 {
            1 => Layer::L3,
            2 => Layer::L2,
            3 => Layer::L1,
            _ => return None,
        };
        let crc = (h >> 16) & 1 == 0;
        let bitrate_index = ((h >> 12) & 0xf) as usize;
        if bitrate_index == 15 {
            return None;
        }
        let table = match (version, layer) {
            (MpegVersion::V1, Layer::L1) => &BITRATES_V1_L1,
            (MpegVersion::V1, Layer::L2) => &BITRATES_V1_L2,
            (MpegVersion::V1, Layer::L3) => &BITRATES_V1_L3,
            (_, Layer::L1) => &BITRATES_V2_L1,
            (_, _) => &BITRATES_V2_L23,
        };
        let bitrate_kbps = (bitrate_index != 0).then(|| u32::from(table[bitrate_index]));
        let base_rate = match (h >> 10) & 3 {
            0 => 44_100,
            1 => 48_000,
            2 => 32_000,
            _ => return None,
        };
        let sample_rate = match version {
            MpegVersion::V1 => base_rate,
            MpegVersion::V2 => base_rate / 2,
            MpegVersion::V25 => base_rate / 4,
        };
        let padding = (h >> 9) & 1 == 1;
        let channel_mode = match (h >> 6) & 3 {
            0 => ChannelMode::Stereo,
            1 => ChannelMode::JointStereo,
            2 => ChannelMode::DualChannel,
            _ => ChannelMode::Mono,
        };
        if h & 3 == 2 {
            return None; // reserved emphasis: almost always a false sync
        }
        Some(FrameHeader {
            version,
            layer,
            crc,
            bitrate_kbps,
            sample_rate,
            padding,
            channel_mode,
        })
    }

    /// 1 for mono, 2 otherwise.
    pub fn channels(&self) -> u32 {
        if self.channel_mode == ChannelMode::Mono {
            1
        } else {
            2
        }
    }

    /// Samples per channel in one frame: 384 (layer I), 1152 (layer II, MPEG-1 layer III) or
    /// 576 (MPEG-2/2.5 layer III).
    pub fn samples_per_frame(&self) -> u32 {
        match (self.layer, self.version) {
            (Layer::L1, _) => 384,
            (Layer::L2, _) | (Layer::L3, MpegVersion::V1) => 1152,
            (Layer::L3, _) => 576,
        }
    }

    /// The whole frame's length in bytes, header included; `None` for free format, whose length
    /// the header does not give.
    pub fn frame_len(&self) -> Option<usize> {
        let bits_per_sec = self.bitrate_kbps? as usize * 1000;
        let rate = self.sample_rate as usize;
        let pad = usize::from(self.padding);
        Some(match self.layer {
            Layer::L1 => (12 * bits_per_sec / rate + pad) * 4,
            // bytes = samples / 8 × bitrate / rate; layer III LSF frames hold 576 samples.
            _ => self.samples_per_frame() as usize / 8 * bits_per_sec / rate + pad,
        })
    }

    /// Length of the layer III side information that follows the header (and CRC); 0 for
    /// layers I and II.
    pub fn side_info_len(&self) -> usize {
        match (self.layer, self.version, self.channels()) {
            (Layer::L3, MpegVersion::V1, 1) => 17,
            (Layer::L3, MpegVersion::V1, _) => 32,
            (Layer::L3, _, 1) => 9,
            (Layer::L3, _, _) => 17,
            _ => 0,
        }
    }

    /// True when `other` can be the next frame of the same stream (same version, layer and
    /// sample rate); used to confirm a sync.
    pub fn same_stream(&self, other: &FrameHeader) -> bool {
        self.version == other.version
            && self.layer == other.layer
            && self.sample_rate == other.sample_rate
    }
}

/// The total length of the ID3v2 tag at the start of `head` (header, body and footer), or 0
/// when `head` does not start with one.
pub(crate) fn id3v2_len(head: &[u8]) -> usize {
    let [b'I', b'D', b'3', major, _minor, flags, s0, s1, s2, s3, ..] = *head else {
        return 0;
    };
    if major == 0xff || [s0, s1, s2, s3].iter().any(|b| b & 0x80 != 0) {
        return 0;
    }
    let size = [s0, s1, s2, s3]
        .iter()
        .fold(0usize, |acc, &b| (acc << 7) | usize::from(b));
    let footer = if flags & 0x10 != 0 { 10 } else { 0 };
    10 + size + footer
}

/// The Xing (VBR) or Info (CBR) frame at the start of a LAME-style MP3, with the LAME
/// extension's gapless information when present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct XingInfo {
    /// True for `Info` (written for CBR streams), false for `Xing`.
    pub is_info: bool,
    /// The flags word: 1 frames, 2 bytes, 4 TOC, 8 quality.
    pub flags: u32,
    /// Number of audio frames, not counting this one.
    pub frames: Option<u32>,
    /// Number of bytes of audio, this frame included.
    pub bytes: Option<u32>,
    /// The 100-entry seek table.
    pub toc: Option<[u8; 100]>,
    /// The LAME extension's version string (`LAME3.100`, `Lavc59.37`, ...).
    pub encoder: Option<String>,
    /// Encoder delay in samples (from the LAME extension; 0 without it).
    pub encoder_delay: u32,
    /// Padding at the end in samples (from the LAME extension; 0 without it).
    pub encoder_padding: u32,
}

impl XingInfo {
    /// Parses the info frame from a whole frame (`frame` starts with the header); `None` when
    /// the frame is an ordinary audio frame.
    pub fn parse(header: &FrameHeader, frame: &[u8]) -> Option<XingInfo> {
        let start = 4 + if header.crc { 2 } else { 0 } + header.side_info_len();
        let mut at = start;
        let is_info = match frame.get(at..at + 4)? {
            b"Xing" => false,
            b"Info" => true,
            _ => return None,
        };
        let flags = be32(frame, at + 4)?;
        at += 8;
        let mut field = |flag: u32, len: usize| -> Option<Option<usize>> {
            if flags & flag == 0 {
                return Some(None);
            }
            let here = at;
            frame.get(here..here + len)?;
            at += len;
            Some(Some(here))
        };
        let frames = field(1, 4)?.and_then(|p| be32(frame, p));
        let bytes = field(2, 4)?.and_then(|p| be32(frame, p));
        let toc = field(4, 100)?.and_then(|p| frame.get(p..p + 100)?.try_into().ok());
        field(8, 4)?;
        let (encoder, encoder_delay, encoder_padding) =
            match lame_extension(frame.get(at..).unwrap_or_default()) {
                Some((name, delay, padding)) => (Some(name), delay, padding),
                None => (None, 0, 0),
            };
        Some(XingInfo {
            is_info,
            flags,
            frames,
            bytes,
            toc,
            encoder,
            encoder_delay,
            encoder_padding,
        })
    }

    /// The number of samples per channel the stream really holds (delay and padding removed),
    /// when the frame count is known.
    pub fn gapless_samples(&self, samples_per_frame: u32) -> Option<u64> {
        let total = u64::from(self.frames?) * u64::from(samples_per_frame);
        Some(total.saturating_sub(u64::from(self.encoder_delay) + u64::from(self.encoder_padding)))
    }
}

/// The LAME extension after the Xing fields: a 9-byte version string, then at offset 21 the
/// encoder delay and padding as two 12-bit numbers.
fn lame_extension(ext: &[u8]) -> Option<(String, u32, u32)> {
    let name = ext.get(..9)?;
    let plausible = |b: &u8| b.is_ascii_alphanumeric() || *b == b'.';
    if !name[..4].iter().all(plausible) {
        return None;
    }
    let [a, b, c] = *ext.get(21..24)? else {
        return None;
    };
    let delay = (u32::from(a) << 4) | (u32::from(b) >> 4);
    let padding = (u32::from(b & 0x0f) << 8) | u32::from(c);
    let name = String::from_utf8_lossy(name)
        .trim_end_matches(['\0', ' '])
        .to_owned();
    Some((name, delay, padding))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// What an MP3 file holds, read from its headers without decoding.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Mp3Summary {
    /// Sample rate of the first frame, Hz.
    pub sample_rate: u32,
    /// Channels of the first frame (1 or 2).
    pub channels: u32,
    /// Playing time with encoder delay and padding removed (when the info frame gives them).
    pub duration_secs: f64,
    /// Audio frames (the info frame not counted).
    pub frames: u64,
    /// The first frame's header.
    pub header: FrameHeader,
    /// Byte offset of the first frame (the info frame when there is one).
    pub first_frame_offset: u64,
    /// The Xing/Info frame, when the stream starts with one.
    pub xing: Option<XingInfo>,
}

/// How far past the ID3v2 tag to look for the first frame.
const SYNC_SEARCH_BYTES: usize = 64 * 1024;
/// Longest possible frame (layer II/III free format aside): layer I at 448 kbps, 32 kHz.
const MAX_FRAME_LEN: usize = 2 * 1441;

impl Mp3Summary {
    /// Reads the summary of the MP3 at `path`; `Ok(None)` when no MPEG audio frames are found.
    /// Uses the Xing/Info frame count when present, otherwise walks every frame header.
    pub fn read(path: &Path) -> io::Result<Option<Mp3Summary>> {
        let mut file = BufReader::new(File::open(path)?);
        let mut offset = 0u64;
        loop {
            let mut head = [0u8; 10];
            let n = read_up_to(&mut file, &mut head)?;
            let tag = id3v2_len(&head[..n]);
            if tag == 0 {
                break;
            }
            offset += tag as u64;
            file.seek(SeekFrom::Start(offset))?;
        }
        file.seek(SeekFrom::Start(offset))?;
        let mut window = vec![0u8; SYNC_SEARCH_BYTES + MAX_FRAME_LEN + 4];
        let len = read_up_to(&mut file, &mut window)?;
        window.truncate(len);
        let Some((pos, header)) = find_first_frame(&window) else {
            return Ok(None);
        };
        let first_frame_offset = offset + pos as u64;
        let frame_len = header.frame_len().unwrap_or(0);
        let frame = window.get(pos..pos + frame_len).unwrap_or(&window[pos..]);
        let xing = XingInfo::parse(&header, frame);
        let spf = header.samples_per_frame();
        let (frames, samples) = match &xing {
            Some(x) if x.frames.is_some() => {
                let frames = u64::from(x.frames.unwrap_or(0));
                (frames, x.gapless_samples(spf).unwrap_or(0))
            }
            _ => {
                // No frame count: walk the headers (skipping an info frame without one).
                let start = first_frame_offset + if xing.is_some() { frame_len as u64 } else { 0 };
                let frames = count_frames(&mut file, start, &header)?;
                let (delay, padding) = xing
                    .as_ref()
                    .map_or((0, 0), |x| (x.encoder_delay, x.encoder_padding));
                let samples =
                    (frames * u64::from(spf)).saturating_sub(u64::from(delay) + u64::from(padding));
                (frames, samples)
            }
        };
        Ok(Some(Mp3Summary {
            sample_rate: header.sample_rate,
            channels: header.channels(),
            duration_secs: samples as f64 / f64::from(header.sample_rate),
            frames,
            header,
            first_frame_offset,
            xing,
        }))
    }
}

/// The first offset in `buf` holding a frame header whose successor (if inside `buf`) is a
/// header of the same stream; a frame that reaches exactly to the end of `buf` also counts.
pub(crate) fn find_first_frame(buf: &[u8]) -> Option<(usize, FrameHeader)> {
    let last = buf.len().checked_sub(4)?.min(SYNC_SEARCH_BYTES);
    (0..=last).find_map(|pos| {
        let header = header_at(buf, pos)?;
        let len = header.frame_len()?;
        let next = pos + len;
        let confirmed = match header_at(buf, next) {
            Some(h) => header.same_stream(&h),
            None => next == buf.len(),
        };
        confirmed.then_some((pos, header))
    })
}

fn header_at(buf: &[u8], pos: usize) -> Option<FrameHeader> {
    FrameHeader::parse(buf.get(pos..pos + 4)?.try_into().ok()?)
}

/// Counts consecutive frames of `first`'s stream from `start`, stopping at the end of the file
/// or at the first thing that is not such a frame (an ID3v1 or APE tag, junk).
fn count_frames<R: Read + Seek>(file: &mut R, start: u64, first: &FrameHeader) -> io::Result<u64> {
    file.seek(SeekFrom::Start(start))?;
    let mut frames = 0u64;
    loop {
        let mut head = [0u8; 4];
        if read_up_to(file, &mut head)? < 4 {
            return Ok(frames);
        }
        let Some(len) = FrameHeader::parse(head)
            .filter(|h| first.same_stream(h))
            .and_then(|h| h.frame_len())
        else {
            return Ok(frames);
        };
        frames += 1;
        file.seek(SeekFrom::Current(len as i64 - 4))?;
    }
}

/// Reads until `buf` is full or the input ends; returns the number of bytes read.
fn read_up_to<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    /// Builds a header from its fields (version bits: 3 = V1, 2 = V2, 0 = V2.5; layer bits:
    /// 1 = III, 2 = II, 3 = I; mode: 0 stereo … 3 mono).
    fn header(
        version: u32,
        layer: u32,
        bitrate: u32,
        rate: u32,
        padding: bool,
        mode: u32,
    ) -> [u8; 4] {
        let h = (0x7ff << 21)
            | (version << 19)
            | (layer << 17)
            | (1 << 16) // no CRC
            | (bitrate << 12)
            | (rate << 10)
            | (u32::from(padding) << 9)
            | (mode << 6);
        h.to_be_bytes()
    }

    #[test]
    fn parses_mpeg1_layer3_128k_stereo() {
        let h = FrameHeader::parse([0xff, 0xfb, 0x90, 0x00]).unwrap();
        assert_eq!(h.version, MpegVersion::V1);
        assert_eq!(h.layer, Layer::L3);
        assert!(!h.crc);
        assert_eq!(h.bitrate_kbps, Some(128));
        assert_eq!(h.sample_rate, 44_100);
        assert_eq!(h.channel_mode, ChannelMode::Stereo);
        assert_eq!(h.channels(), 2);
        assert_eq!(h.samples_per_frame(), 1152);
        assert_eq!(h.frame_len(), Some(417));
        assert_eq!(h.side_info_len(), 32);
        let padded = FrameHeader::parse(header(3, 1, 9, 0, true, 1)).unwrap();
        assert_eq!(padded.frame_len(), Some(418));
        assert_eq!(padded.channel_mode, ChannelMode::JointStereo);
    }

    #[test]
    fn parses_lsf_and_mpeg25_layer3() {
        // MPEG-2, 64 kbps, 22.05 kHz, mono: 576 samples, 72 × 64000 / 22050 = 208 bytes.
        let h = FrameHeader::parse(header(2, 1, 8, 0, false, 3)).unwrap();
        assert_eq!(
            (h.version, h.sample_rate, h.channels()),
            (MpegVersion::V2, 22_050, 1)
        );
        assert_eq!(h.bitrate_kbps, Some(64));
        assert_eq!(h.samples_per_frame(), 576);
        assert_eq!(h.frame_len(), Some(208));
        assert_eq!(h.side_info_len(), 9);
        // MPEG-2.5, 8 kbps, 8 kHz, stereo: 72 × 8000 / 8000 = 72 bytes.
        let h = FrameHeader::parse(header(0, 1, 1, 2, false, 0)).unwrap();
        assert_eq!((h.version, h.sample_rate), (MpegVersion::V25, 8_000));
        assert_eq!(h.frame_len(), Some(72));
        assert_eq!(h.side_info_len(), 17);
    }

    #[test]
    fn parses_layers_1_and_2() {
        // Layer II, 192 kbps, 48 kHz: 144 × 192000 / 48000 = 576 bytes.
        let h = FrameHeader::parse(header(3, 2, 10, 1, false, 0)).unwrap();
        assert_eq!(
            (h.layer, h.bitrate_kbps, h.frame_len()),
            (Layer::L2, Some(192), Some(576))
        );
        assert_eq!((h.samples_per_frame(), h.side_info_len()), (1152, 0));
        // Layer I, 384 kbps, 32 kHz, padded: (12 × 384000 / 32000 + 1) × 4 = 580 bytes.
        let h = FrameHeader::parse(header(3, 3, 12, 2, true, 0)).unwrap();
        assert_eq!(
            (h.layer, h.bitrate_kbps, h.frame_len()),
            (Layer::L1, Some(384), Some(580))
        );
        assert_eq!(h.samples_per_frame(), 384);
    }

    #[test]
    fn rejects_invalid_headers_and_knows_free_format() {
        assert_eq!(
            FrameHeader::parse([0xff, 0xe0, 0, 0]),
            None,
            "reserved layer 0"
        );
        assert_eq!(
            FrameHeader::parse(header(1, 1, 9, 0, false, 0)),
            None,
            "reserved version"
        );
        assert_eq!(
            FrameHeader::parse(header(3, 1, 15, 0, false, 0)),
            None,
            "bad bitrate"
        );
        assert_eq!(
            FrameHeader::parse(header(3, 1, 9, 3, false, 0)),
            None,
            "bad rate"
        );
        assert_eq!(
            FrameHeader::parse([0x49, 0x44, 0x33, 0x04]),
            None,
            "no sync"
        );
        let mut emphasis = header(3, 1, 9, 0, false, 0);
        emphasis[3] |= 2;
        assert_eq!(FrameHeader::parse(emphasis), None, "reserved emphasis");
        let free = FrameHeader::parse(header(3, 1, 0, 0, false, 0)).unwrap();
        assert_eq!((free.bitrate_kbps, free.frame_len()), (None, None));
        let mut crc = header(3, 1, 9, 0, false, 0);
        crc[1] &= 0xfe;
        assert!(FrameHeader::parse(crc).unwrap().crc);
    }

    #[test]
    fn id3v2_length_includes_header_and_footer() {
        assert_eq!(id3v2_len(b"ID3\x04\x00\x00\x00\x00\x00\x0a rest"), 20);
        assert_eq!(id3v2_len(b"ID3\x04\x00\x00\x00\x00\x02\x01"), 10 + 257);
        assert_eq!(
            id3v2_len(b"ID3\x04\x00\x10\x00\x00\x00\x05"),
            25,
            "footer flag"
        );
        assert_eq!(
            id3v2_len(b"ID3\x04\x00\x00\x00\x00\x00\x80"),
            0,
            "not syncsafe"
        );
        assert_eq!(id3v2_len(b"ID3\x04"), 0, "too short");
        assert_eq!(id3v2_len(b"\xff\xfb\x90\x00"), 0);
    }

    /// A MPEG-1 layer III 128 kbps stereo frame (417 bytes) holding an info frame.
    fn info_frame(
        tag: &[u8; 4],
        flags: u32,
        frames: u32,
        lame: Option<(&[u8; 9], u32, u32)>,
    ) -> Vec<u8> {
        let mut f = vec![0u8; 417];
        f[..4].copy_from_slice(&header(3, 1, 9, 0, false, 0));
        let mut at = 4 + 32;
        f[at..at + 4].copy_from_slice(tag);
        f[at + 4..at + 8].copy_from_slice(&flags.to_be_bytes());
        at += 8;
        if flags & 1 != 0 {
            f[at..at + 4].copy_from_slice(&frames.to_be_bytes());
            at += 4;
        }
        if flags & 2 != 0 {
            f[at..at + 4].copy_from_slice(&1234u32.to_be_bytes());
            at += 4;
        }
        if flags & 4 != 0 {
            for (i, b) in f[at..at + 100].iter_mut().enumerate() {
                *b = i as u8 * 2;
            }
            at += 100;
        }
        if flags & 8 != 0 {
            at += 4;
        }
        if let Some((name, delay, padding)) = lame {
            f[at..at + 9].copy_from_slice(name);
            let packed = (delay << 12) | padding;
            f[at + 21..at + 24].copy_from_slice(&packed.to_be_bytes()[1..]);
        }
        f
    }

    #[test]
    fn parses_xing_with_lame_extension() {
        let frame = info_frame(b"Xing", 0xf, 100, Some((b"LAME3.100", 576, 1000)));
        let h = FrameHeader::parse(frame[..4].try_into().unwrap()).unwrap();
        let x = XingInfo::parse(&h, &frame).unwrap();
        assert!(!x.is_info);
        assert_eq!((x.flags, x.frames, x.bytes), (0xf, Some(100), Some(1234)));
        assert_eq!(x.toc.unwrap()[99], 198);
        assert_eq!(x.encoder.as_deref(), Some("LAME3.100"));
        assert_eq!((x.encoder_delay, x.encoder_padding), (576, 1000));
        assert_eq!(x.gapless_samples(1152), Some(100 * 1152 - 1576));
    }

    #[test]
    fn parses_info_without_optional_fields_or_lame() {
        let frame = info_frame(b"Info", 1, 7, None);
        let h = FrameHeader::parse(frame[..4].try_into().unwrap()).unwrap();
        let x = XingInfo::parse(&h, &frame).unwrap();
        assert!(x.is_info);
        assert_eq!((x.frames, x.bytes, x.toc), (Some(7), None, None));
        assert_eq!(
            (x.encoder, x.encoder_delay, x.encoder_padding),
            (None, 0, 0)
        );
        // An ordinary audio frame is not an info frame.
        let plain = info_frame(b"\0\0\0\0", 0, 0, None);
        assert_eq!(XingInfo::parse(&h, &plain), None);
    }

    fn write_temp(bytes: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(bytes).unwrap();
        f
    }

    #[test]
    fn summary_walks_frames_without_info_frame_after_junk_and_id3() {
        let mut bytes = b"ID3\x03\x00\x00\x00\x00\x00\x05hello".to_vec();
        bytes.extend_from_slice(b"\xff\xfbjunk"); // a false sync that is not confirmed
        let frame_start = bytes.len() as u64;
        for i in 0..10 {
            let mut f = vec![0u8; 417];
            f[..4].copy_from_slice(&header(3, 1, 9, 0, false, 3));
            f[100] = i;
            bytes.extend_from_slice(&f);
        }
        bytes.extend_from_slice(b"TAG trailing id3v1");
        let file = write_temp(&bytes);
        let s = Mp3Summary::read(file.path()).unwrap().unwrap();
        assert_eq!((s.sample_rate, s.channels, s.frames), (44_100, 1, 10));
        assert_eq!(s.first_frame_offset, frame_start);
        assert_eq!(s.xing, None);
        assert!((s.duration_secs - 10.0 * 1152.0 / 44_100.0).abs() < 1e-9);
    }

    #[test]
    fn summary_uses_the_info_frame_count_and_gapless_values() {
        let mut bytes = info_frame(b"Info", 1, 50, Some((b"Lavc59.37", 576, 576)));
        for _ in 0..3 {
            // Only 3 audio frames follow: the count in the info frame wins over a walk.
            let mut f = vec![0u8; 417];
            f[..4].copy_from_slice(&header(3, 1, 9, 0, false, 0));
            bytes.extend_from_slice(&f);
        }
        let file = write_temp(&bytes);
        let s = Mp3Summary::read(file.path()).unwrap().unwrap();
        assert_eq!(s.frames, 50);
        assert!((s.duration_secs - (50.0 * 1152.0 - 1152.0) / 44_100.0).abs() < 1e-9);
    }

    #[test]
    fn summary_of_non_mp3_is_none() {
        let file = write_temp(b"%PDF-1.4 not audio at all");
        assert_eq!(Mp3Summary::read(file.path()).unwrap(), None);
        let empty = write_temp(b"");
        assert_eq!(Mp3Summary::read(empty.path()).unwrap(), None);
    }

    #[test]
    fn summary_of_ffmpeg_made_fixture() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/media/mp3-cbr.mp3");
        let s = Mp3Summary::read(&path).unwrap().expect("fixture is an MP3");
        assert_eq!((s.sample_rate, s.channels), (44_100, 2));
        assert_eq!(s.header.bitrate_kbps, Some(128));
        let x = s.xing.as_ref().expect("ffmpeg writes an Info frame");
        assert!(x.is_info);
        assert!(x.encoder_delay > 0 && x.encoder_padding > 0);
        // The fixture is exactly 3 s of audio; the frame count must match a walk of the file.
        assert!(
            (s.duration_secs - 3.0).abs() < 1e-6,
            "duration {}",
            s.duration_secs
        );
        let mut file = BufReader::new(File::open(&path).unwrap());
        let after_info = s.first_frame_offset + s.header.frame_len().unwrap() as u64;
        assert_eq!(
            count_frames(&mut file, after_info, &s.header).unwrap(),
            s.frames
        );
    }
}
