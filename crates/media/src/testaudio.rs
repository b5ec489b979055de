//! Test kit for the output encoders: a test signal made in code, pushing it through a
//! [`Sink`] in blocks, and checks of the result with ffmpeg/ffprobe (required where the suite
//! runs) and `flac -t` (when installed).

use std::path::Path;
use std::process::Command;

use crate::MediaError;
use crate::sink::{Sink, Written};

/// Planar test audio.
#[derive(Debug, Clone)]
pub(crate) struct Signal {
    pub rate: u32,
    pub channels: u8,
    pub left: Vec<f32>,
    /// Empty for mono.
    pub right: Vec<f32>,
}

/// A small deterministic generator (xorshift), uniform in −1..1.
struct Noise(u32);

impl Noise {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        (self.0 as f32 / u32::MAX as f32) * 2.0 - 1.0
    }
}

impl Signal {
    /// `secs` of three unrelated tones, low-passed noise and a decaying noise burst every
    /// 0.3 s (the transients make a misaligned decode visible), peaks under 0.9.
    pub fn test_tones(rate: u32, channels: u8, secs: f64) -> Signal {
        let n = (secs * f64::from(rate)).round() as usize;
        let channel = |freqs: [f32; 3], seed: u32| {
            let mut noise = Noise(seed);
            let mut low = 0.0f32;
            let mut burst = 0.0f32;
            let burst_every = (0.3 * f64::from(rate)) as usize;
            let decay = (-1.0 / (0.008 * rate as f32)).exp();
            (0..n)
                .map(|i| {
                    let t = i as f32 / rate as f32;
                    let tau = std::f32::consts::TAU;
                    let tones = 0.2 * (tau * freqs[0] * t).sin()
                        + 0.12 * (tau * freqs[1] * t).sin()
                        + 0.06 * (tau * freqs[2] * t).sin();
                    let white = noise.next();
                    low = 0.9 * low + 0.1 * white;
                    if i % burst_every == burst_every / 2 {
                        burst = 0.45;
                    }
                    burst *= decay;
                    tones + 0.3 * low + burst * white
                })
                .collect::<Vec<f32>>()
        };
        let left = channel([220.0, 347.0, 1031.0], 0x1234_5678);
        let right = if channels == 2 {
            channel([262.0, 411.0, 1553.0], 0x0BAD_F00D)
        } else {
            Vec::new()
        };
        Signal {
            rate,
            channels,
            left,
            right,
        }
    }

    /// Samples per channel.
    pub fn len(&self) -> usize {
        self.left.len()
    }

    /// One channel's samples.
    pub fn planar(&self, ch: usize) -> &[f32] {
        if ch == 0 { &self.left } else { &self.right }
    }

    /// The samples interleaved.
    pub fn interleaved(&self) -> Vec<f32> {
        if self.channels == 1 {
            return self.left.clone();
        }
        self.left
            .iter()
            .zip(&self.right)
            .flat_map(|(&l, &r)| [l, r])
            .collect()
    }
}

/// Pushes `s` in blocks of `block` samples per channel, then finishes.
pub(crate) fn push_in_blocks(
    mut sink: Box<dyn Sink>,
    s: &Signal,
    block: usize,
) -> Result<Written, MediaError> {
    for start in (0..s.len()).step_by(block) {
        let end = (start + block).min(s.len());
        let right = if s.right.is_empty() {
            &[][..]
        } else {
            &s.right[start..end]
        };
        sink.push(&s.left[start..end], right)?;
    }
    sink.finish()
}

fn run(program: &str, args: &[&str]) -> std::process::Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} could not be started: {e}"))
}

/// `ffmpeg -v error -i path -f null -` succeeds and says nothing.
pub(crate) fn assert_ffmpeg_decodes_cleanly(path: &Path) {
    let out = run(
        "ffmpeg",
        &[
            "-v",
            "error",
            "-i",
            path.to_str().unwrap(),
            "-f",
            "null",
            "-",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "ffmpeg: {stderr}"
    );
}

/// `flac -t` accepts the file; skipped with a message when the `flac` binary is not installed.
pub(crate) fn assert_flac_test_passes(path: &Path) {
    match Command::new("flac")
        .args(["-t", "--silent"])
        .arg(path)
        .output()
    {
        Ok(out) => assert!(
            out.status.success(),
            "flac -t: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            println!("flac is not installed: skipping the `flac -t` check");
        }
        Err(e) => panic!("flac could not be started: {e}"),
    }
}

/// The container duration ffprobe reports, seconds.
pub(crate) fn probe_duration(path: &Path) -> f64 {
    let out = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "default=nw=1:nk=1",
            path.to_str().unwrap(),
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim()
        .parse()
        .unwrap_or_else(|_| panic!("ffprobe duration: {text:?}"))
}

/// The title tag ffprobe finds in the format's or the stream's tags, any key case.
pub(crate) fn probe_title(path: &Path) -> Option<String> {
    let out = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-show_entries",
            "format_tags:stream_tags",
            "-of",
            "json",
            path.to_str().unwrap(),
        ],
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut tag_sets = vec![&json["format"]["tags"]];
    if let Some(streams) = json["streams"].as_array() {
        tag_sets.extend(streams.iter().map(|s| &s["tags"]));
    }
    tag_sets
        .into_iter()
        .filter_map(serde_json::Value::as_object)
        .flat_map(|tags| tags.iter())
        .find(|(k, _)| k.eq_ignore_ascii_case("title"))
        .and_then(|(_, v)| v.as_str().map(str::to_owned))
}

/// The file decoded by ffmpeg to interleaved f32 with `channels` channels.
pub(crate) fn decode_f32(path: &Path, channels: u8) -> Vec<f32> {
    let ac = channels.to_string();
    let out = run(
        "ffmpeg",
        &[
            "-v",
            "error",
            "-i",
            path.to_str().unwrap(),
            "-ac",
            &ac,
            "-f",
            "f32le",
            "-",
        ],
    );
    assert!(
        out.status.success(),
        "ffmpeg decode: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// Channel `ch` of interleaved samples.
pub(crate) fn channel(interleaved: &[f32], channels: u8, ch: usize) -> Vec<f32> {
    interleaved
        .iter()
        .skip(ch)
        .step_by(usize::from(channels))
        .copied()
        .collect()
}

/// Pearson correlation of the common length of `a` and `b`.
pub(crate) fn correlation(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mean = |x: &[f32]| x.iter().map(|&v| f64::from(v)).sum::<f64>() / n as f64;
    let (ma, mb) = (mean(a), mean(b));
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x) - ma, f64::from(y) - mb);
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    ab / (aa * bb).sqrt()
}

/// The shift (within ±`max`) at which `got` best matches `want`, over a 0.5 s window from
/// 0.1 s that holds a transient: `got[i] ≈ want[i + lag]`; 0 when the decode is aligned.
pub(crate) fn best_lag(want: &[f32], got: &[f32], max: usize) -> isize {
    let start = 4800usize.max(max);
    let window = 24_000;
    let max = max as isize;
    (-max..=max)
        .max_by(|&a, &b| {
            let score = |lag: isize| -> f64 {
                (start..start + window)
                    .map(|i| f64::from(want[(i as isize + lag) as usize]) * f64::from(got[i]))
                    .sum()
            };
            score(a).total_cmp(&score(b))
        })
        .unwrap()
}

/// One Ogg page as the tests look at it.
#[derive(Debug)]
pub(crate) struct OggPage {
    pub flags: u8,
    pub granule: u64,
    pub body: Vec<u8>,
}

/// Splits an Ogg file into pages, checking the capture pattern and the sequence numbers.
pub(crate) fn ogg_pages(mut data: &[u8]) -> Vec<OggPage> {
    let mut pages = Vec::new();
    while !data.is_empty() {
        assert_eq!(&data[..4], b"OggS");
        let seq = u32::from_le_bytes(data[18..22].try_into().unwrap());
        assert_eq!(seq as usize, pages.len(), "page sequence");
        let segments = usize::from(data[26]);
        let body_len: usize = data[27..27 + segments]
            .iter()
            .map(|&l| usize::from(l))
            .sum();
        let body_at = 27 + segments;
        pages.push(OggPage {
            flags: data[5],
            granule: u64::from_le_bytes(data[6..14].try_into().unwrap()),
            body: data[body_at..body_at + body_len].to_vec(),
        });
        data = &data[body_at + body_len..];
    }
    pages
}

/// Tags with just a title (or none), for the writers' tests.
pub(crate) fn titled(title: Option<&str>) -> crate::output::tags::Tagging {
    crate::output::tags::Tagging {
        tags: mp3converter_core::Tags {
            title: title.map(str::to_owned),
            ..Default::default()
        },
        ..Default::default()
    }
}
