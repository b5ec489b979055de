//! Recognise a file's kind from its first bytes, before any demuxer sees it.
//!
//! Used twice: the gateway refuses uploads that are plainly not media (415) from the first
//! kilobytes, and the engine (`mp3converter-media`) routes containers the native demuxers would
//! misread (MPEG-PS is mis-probed as raw MPEG audio) or cannot read (AVI, MPEG-TS, FLV, ASF)
//! straight to ffmpeg. A crate of its own, without dependencies, so the gateway does not link
//! the engine (symphonia, the LAME C build) only for this.

#![forbid(unsafe_code)]

/// What the leading bytes say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniffed {
    /// A container the native path reads.
    Native(Container),
    /// A media container only the ffmpeg path reads correctly.
    NeedsFfmpeg(Container),
    /// A well-known non-media format (document, archive, image, executable, text).
    NotMedia(&'static str),
    /// Nothing recognised: could be a headerless stream; let the demuxers decide.
    Unknown,
}

/// Containers told apart by [`sniff`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    /// ISO base media (MP4, MOV, M4A, 3GP).
    Mp4,
    /// Matroska / WebM.
    Matroska,
    /// Ogg.
    Ogg,
    /// RIFF WAVE.
    Wav,
    /// AIFF / AIFC.
    Aiff,
    /// Core Audio Format.
    Caf,
    /// Native FLAC.
    Flac,
    /// MP3 with an ID3v2 tag or a frame sync.
    Mp3,
    /// AAC in ADTS framing.
    Adts,
    /// RIFF AVI.
    Avi,
    /// MPEG program stream (.mpg, .vob).
    MpegPs,
    /// MPEG transport stream (.ts, .m2ts).
    MpegTs,
    /// Flash video.
    Flv,
    /// ASF (WMV / WMA).
    Asf,
    /// RealMedia.
    RealMedia,
    /// Raw AC-3 / E-AC-3.
    Ac3,
    /// Raw DTS.
    Dts,
}

impl Container {
    /// The container in words, for messages ("the AVI container").
    pub fn describe(self) -> &'static str {
        match self {
            Container::Mp4 => "the MP4/MOV container",
            Container::Matroska => "the Matroska/WebM container",
            Container::Ogg => "the Ogg container",
            Container::Wav => "the WAV container",
            Container::Aiff => "the AIFF container",
            Container::Caf => "the CAF container",
            Container::Flac => "the FLAC container",
            Container::Mp3 => "the MP3 format",
            Container::Adts => "the ADTS (raw AAC) format",
            Container::Avi => "the AVI container",
            Container::MpegPs => "the MPEG program stream container",
            Container::MpegTs => "the MPEG transport stream container",
            Container::Flv => "the FLV container",
            Container::Asf => "the ASF/WMV container",
            Container::RealMedia => "the RealMedia container",
            Container::Ac3 => "raw AC-3 audio",
            Container::Dts => "raw DTS audio",
        }
    }

    /// Short name used in probe output.
    pub fn short_name(self) -> &'static str {
        match self {
            Container::Mp4 => "mp4",
            Container::Matroska => "matroska",
            Container::Ogg => "ogg",
            Container::Wav => "wav",
            Container::Aiff => "aiff",
            Container::Caf => "caf",
            Container::Flac => "flac",
            Container::Mp3 => "mp3",
            Container::Adts => "adts",
            Container::Avi => "avi",
            Container::MpegPs => "mpegps",
            Container::MpegTs => "mpegts",
            Container::Flv => "flv",
            Container::Asf => "asf",
            Container::RealMedia => "rm",
            Container::Ac3 => "ac3",
            Container::Dts => "dts",
        }
    }
}

/// How many leading bytes [`sniff`] wants to see (it works with fewer).
pub const SNIFF_LEN: usize = 4096;

const ASF_GUID: [u8; 16] = [
    0x30, 0x26, 0xB2, 0x75, 0x8E, 0x66, 0xCF, 0x11, 0xA6, 0xD9, 0x00, 0xAA, 0x00, 0x62, 0xCE, 0x6C,
];

/// Classifies a file from its first bytes (ideally [`SNIFF_LEN`] of them).
pub fn sniff(head: &[u8]) -> Sniffed {
    use Container::*;
    use Sniffed::{Native, NeedsFfmpeg};

    let at = |offset: usize, magic: &[u8]| head.get(offset..offset + magic.len()) == Some(magic);

    if at(4, b"ftyp") || at(4, b"moov") || at(4, b"mdat") || at(4, b"free") || at(4, b"wide") {
        return Native(Mp4);
    }
    if at(0, &[0x1A, 0x45, 0xDF, 0xA3]) {
        return Native(Matroska);
    }
    if at(0, b"OggS") {
        return Native(Ogg);
    }
    if at(0, b"RIFF") || at(0, b"RIFX") || at(0, b"RF64") {
        if at(8, b"WAVE") {
            return Native(Wav);
        }
        if at(8, b"AVI ") || at(8, b"AVIX") {
            return NeedsFfmpeg(Avi);
        }
        if at(8, b"WEBP") {
            return Sniffed::NotMedia("a WebP image");
        }
    }
    if at(0, b"FORM") && (at(8, b"AIFF") || at(8, b"AIFC")) {
        return Native(Aiff);
    }
    if at(0, b"caff") {
        return Native(Caf);
    }
    if at(0, b"fLaC") {
        return Native(Flac);
    }
    if at(0, &[0x00, 0x00, 0x01, 0xBA]) {
        return NeedsFfmpeg(MpegPs);
    }
    if is_mpeg_ts(head) {
        return NeedsFfmpeg(MpegTs);
    }
    if at(0, b"FLV\x01") {
        return NeedsFfmpeg(Flv);
    }
    if at(0, &ASF_GUID) {
        return NeedsFfmpeg(Asf);
    }
    if at(0, b".RMF") {
        return NeedsFfmpeg(RealMedia);
    }
    if at(0, b"ID3") {
        // ID3v2 tags can front MP3, AAC (ADTS) or FLAC; look past them when we can. A loop, not
        // recursion: a run of empty tags must not cost a stack frame each.
        let mut rest = head;
        while rest.starts_with(b"ID3") {
            match rest.get(id3v2_size(rest)..) {
                Some(after) if !after.is_empty() => rest = after,
                _ => return Native(Mp3),
            }
        }
        return match sniff(rest) {
            Sniffed::Unknown => Native(Mp3),
            other => other,
        };
    }
    if let Some(kind) = not_media(head) {
        return Sniffed::NotMedia(kind);
    }
    if at(0, &[0x0B, 0x77]) {
        return NeedsFfmpeg(Ac3);
    }
    if at(0, &[0x7F, 0xFE, 0x80, 0x01]) {
        return NeedsFfmpeg(Dts);
    }
    if head.len() >= 2 && head[0] == 0xFF && head[1] & 0xF6 == 0xF0 {
        return Native(Adts);
    }
    if head.len() >= 2 && head[0] == 0xFF && head[1] & 0xE0 == 0xE0 && head[1] & 0x06 != 0 {
        return Native(Mp3);
    }
    if looks_like_text(head) {
        return Sniffed::NotMedia("a text file");
    }
    Sniffed::Unknown
}

/// Sniffs the first [`SNIFF_LEN`] bytes of a file; `None` when it is empty.
pub fn sniff_file(path: &std::path::Path) -> std::io::Result<Option<Sniffed>> {
    use std::io::Read;
    let mut head = Vec::with_capacity(SNIFF_LEN);
    std::fs::File::open(path)?
        .take(SNIFF_LEN as u64)
        .read_to_end(&mut head)?;
    Ok((!head.is_empty()).then(|| sniff(&head)))
}

fn id3v2_size(head: &[u8]) -> usize {
    match head.get(6..10) {
        Some(s) if s.iter().all(|b| b & 0x80 == 0) => {
            let syncsafe = s.iter().fold(0usize, |acc, b| (acc << 7) | usize::from(*b));
            let footer = if head[5] & 0x10 != 0 { 10 } else { 0 };
            10 + syncsafe + footer
        }
        _ => usize::MAX,
    }
}

fn is_mpeg_ts(head: &[u8]) -> bool {
    // 188-byte packets (or 192 with a 4-byte timecode prefix, as in M2TS), sync byte 0x47.
    [(188, 0), (192, 4)].iter().any(|&(stride, offset)| {
        let packets = (head.len().saturating_sub(offset)) / stride;
        packets >= 2 && (0..packets.min(8)).all(|i| head[offset + i * stride] == 0x47)
    })
}

fn not_media(head: &[u8]) -> Option<&'static str> {
    let at = |offset: usize, magic: &[u8]| head.get(offset..offset + magic.len()) == Some(magic);
    let table: &[(&[u8], &str)] = &[
        (b"%PDF", "a PDF document"),
        (b"PK\x03\x04", "a ZIP archive (or an Office document)"),
        (b"PK\x05\x06", "a ZIP archive"),
        (b"\x7FELF", "an executable program"),
        (b"MZ", "a Windows executable"),
        (b"\xCA\xFE\xBA\xBE", "an executable program"),
        (b"\xCF\xFA\xED\xFE", "an executable program"),
        (b"#!", "a script"),
        (b"\x89PNG", "a PNG image"),
        (b"\xFF\xD8\xFF", "a JPEG image"),
        (b"GIF8", "a GIF image"),
        (b"\x1F\x8B", "a gzip archive"),
        (b"BZh", "a bzip2 archive"),
        (b"\xFD7zXZ\x00", "an xz archive"),
        (b"7z\xBC\xAF\x27\x1C", "a 7-Zip archive"),
        (b"Rar!", "a RAR archive"),
        (b"\x28\xB5\x2F\xFD", "a zstd archive"),
        (b"\xD0\xCF\x11\xE0", "an Office document"),
        (b"SQLite format 3", "a database file"),
        (b"<?xml", "an XML document"),
        (b"{\\rtf", "an RTF document"),
        (b"\x00asm", "a WebAssembly module"),
    ];
    table
        .iter()
        .find(|(magic, _)| at(0, magic))
        .map(|(_, what)| *what)
        .or_else(|| {
            let lower: Vec<u8> = head.iter().take(64).map(u8::to_ascii_lowercase).collect();
            let trimmed = lower.trim_ascii_start();
            (trimmed.starts_with(b"<!doctype html") || trimmed.starts_with(b"<html"))
                .then_some("an HTML page")
        })
}

fn looks_like_text(head: &[u8]) -> bool {
    if head.len() < 16 {
        return false;
    }
    let sample = &head[..head.len().min(1024)];
    // Valid UTF-8 (allowing a cut-off final character) with no control bytes but whitespace.
    let text = match std::str::from_utf8(sample) {
        Ok(s) => s,
        Err(e) if e.valid_up_to() + 4 > sample.len() => {
            std::str::from_utf8(&sample[..e.valid_up_to()]).unwrap_or_default()
        }
        Err(_) => return false,
    };
    !text.is_empty()
        && text
            .chars()
            .all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t' | '\x0C'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_run_of_empty_id3_tags_does_not_exhaust_the_stack() {
        // 100,000 nested empty tags: each one used to cost a recursive call.
        let head: Vec<u8> = b"ID3\x03\0\0\0\0\0\0".repeat(100_000);
        assert_eq!(sniff(&head), Sniffed::Native(Container::Mp3));
        let mut tagged_flac = b"ID3\x03\0\0\0\0\0\0".repeat(3);
        tagged_flac.extend_from_slice(b"fLaC\0\0\0\x22");
        assert_eq!(sniff(&tagged_flac), Sniffed::Native(Container::Flac));
    }

    #[test]
    fn recognises_containers() {
        use Container::*;
        let cases: &[(&[u8], Sniffed)] = &[
            (b"\0\0\0\x20ftypisom\0\0\x02\0", Sniffed::Native(Mp4)),
            (
                b"\x1A\x45\xDF\xA3\x9F\x42\x86\x81",
                Sniffed::Native(Matroska),
            ),
            (b"RIFF\x24\0\0\0WAVEfmt ", Sniffed::Native(Wav)),
            (b"RIFF\x24\0\0\0AVI LIST", Sniffed::NeedsFfmpeg(Avi)),
            (b"\0\0\x01\xBA\x44\0\x04\0", Sniffed::NeedsFfmpeg(MpegPs)),
            (b"FLV\x01\x05\0\0\0\x09", Sniffed::NeedsFfmpeg(Flv)),
            (&ASF_GUID, Sniffed::NeedsFfmpeg(Asf)),
            (b"\xFF\xFB\x90\x64\0\0", Sniffed::Native(Mp3)),
            (b"\xFF\xF1\x50\x80\x02\x1F", Sniffed::Native(Adts)),
        ];
        for &(head, expected) in cases {
            assert_eq!(sniff(head), expected, "{head:02X?}");
        }
    }

    #[test]
    fn recognises_transport_streams_by_packet_spacing() {
        let mut ts = vec![0u8; 188 * 4];
        for i in 0..4 {
            ts[i * 188] = 0x47;
        }
        assert_eq!(sniff(&ts), Sniffed::NeedsFfmpeg(Container::MpegTs));
        ts[188 * 2] = 0;
        assert_ne!(sniff(&ts), Sniffed::NeedsFfmpeg(Container::MpegTs));
    }

    #[test]
    fn looks_past_an_id3_tag() {
        let mut data = b"ID3\x04\0\0\0\0\0\x0A".to_vec();
        data.extend_from_slice(&[0; 10]);
        data.extend_from_slice(b"fLaC\0\0\0\x22");
        assert_eq!(sniff(&data), Sniffed::Native(Container::Flac));
        assert_eq!(
            sniff(b"ID3\x04\0\0\0\0\x10\0"),
            Sniffed::Native(Container::Mp3)
        );
    }

    #[test]
    fn refuses_documents_archives_and_text() {
        let cases: &[(&[u8], Sniffed)] = &[
            (b"%PDF-1.7\n%\xE2\xE3", Sniffed::NotMedia("a PDF document")),
            (
                b"PK\x03\x04\x14\0\0\0",
                Sniffed::NotMedia("a ZIP archive (or an Office document)"),
            ),
            (
                b"\x7FELF\x02\x01\x01\0",
                Sniffed::NotMedia("an executable program"),
            ),
            (
                b"hello, this is just some plain text\n",
                Sniffed::NotMedia("a text file"),
            ),
            (
                b"  <!DOCTYPE html><html>",
                Sniffed::NotMedia("an HTML page"),
            ),
            (&[0x13, 0x99, 0x02, 0xF7, 0x00, 0x45], Sniffed::Unknown),
        ];
        for &(head, expected) in cases {
            assert_eq!(sniff(head), expected, "{head:02X?}");
        }
    }
}
