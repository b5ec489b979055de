//! Compares pure-Rust Opus decoders with libopus on one Ogg-Opus file.
//!
//! Usage: `opus-eval FILE.opus REF.f32 [--reps N] [--extra NAME=OTHER.f32]...`
//!
//! `REF.f32` is the libopus decode of `FILE.opus` as raw interleaved stereo
//! f32le at 48 kHz with the pre-skip and end trim applied (what
//! `ffmpeg -c:a libopus -request_sample_fmt flt -i FILE.opus -f f32le -ac 2` writes).
//! Every candidate decodes the same demuxed packets (the `ogg` crate, not the
//! candidate's own container code) with a fresh decoder; the first `pre_skip`
//! samples are dropped and the output is cut at the last granule position, as
//! RFC 7845 says. `--extra` compares further decodes made elsewhere (e.g.
//! ffmpeg's own Opus decoder) with the same reference.
//!
//! A `#` line with the packet modes (from the TOC bytes), then one
//! tab-separated line per candidate on stdout:
//! `file decoder snr_db max_abs_err compared_frames best_lag decode_ms x_realtime`.
//! `best_lag` is the shift (in frames) that maximises the correlation with the
//! reference over one second in the middle; 0 means the alignment is right.
//!
//! `opus-eval --fuzz FILE.opus [PASSES]` instead feeds each candidate the file's
//! packets PASSES times with about a third of them damaged (bytes flipped,
//! truncated, or replaced by random bytes; fixed seed) and counts, per decoder,
//! packets rejected with an error and packets that made it panic.
//!
//! With `OPUS_EVAL_DUMP=DIR` each candidate's trimmed output is written there.

use std::fs::File;
use std::io::BufReader;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

// The `(s16 API)` rows decode to i16 and scale by 1/32768, to tell a float-path
// problem from a decoder problem.
const RATE: usize = 48_000;
const CHANNELS: usize = 2;
/// Largest Opus packet: 120 ms at 48 kHz, per channel.
const MAX_FRAME: usize = 5_760;

type DecodeFn = fn(&[Vec<u8>]) -> Result<Vec<f32>, String>;

const CANDIDATES: [(&str, DecodeFn); 6] = [
    ("opus-decoder 0.1.1", decode_opus_decoder),
    ("opus-decoder 0.1.1 (s16 API)", decode_opus_decoder_s16),
    ("mousiki 0.2.1", decode_mousiki),
    ("mousiki 0.2.1 (s16 API)", decode_mousiki_s16),
    ("opus-pure 0.2.2", decode_opus_pure),
    ("ruopus 0.1.2", decode_ruopus),
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        eprintln!("usage: opus-eval FILE.opus REF.f32 [--reps N] [--extra NAME=OTHER.f32]...");
        std::process::exit(2);
    }
    if args[0] == "--fuzz" {
        fuzz(
            &args[1],
            args.get(2)
                .map_or(4, |n| n.parse().expect("--fuzz FILE [PASSES]")),
        );
        return;
    }
    let (opus_path, ref_path) = (&args[0], &args[1]);
    let mut reps = 5usize;
    let mut extras = Vec::new();
    let mut rest = args[2..].iter();
    while let Some(flag) = rest.next() {
        let value = rest.next().expect("flag needs a value");
        match flag.as_str() {
            "--reps" => reps = value.parse().expect("--reps N"),
            "--extra" => extras.push(value.split_once('=').expect("--extra NAME=FILE")),
            other => panic!("unknown flag {other}"),
        }
    }

    let stream = demux(opus_path);
    let reference = read_f32(ref_path);
    let file = std::path::Path::new(opus_path)
        .file_name()
        .unwrap()
        .to_string_lossy();

    let mut modes = [0usize; 3];
    for packet in &stream.packets {
        let config = packet.first().map_or(31, |toc| toc >> 3);
        modes[usize::from(config >= 12) + usize::from(config >= 16)] += 1;
    }
    println!(
        "# {file}: {} SILK, {} hybrid, {} CELT packets",
        modes[0], modes[1], modes[2]
    );
    for (name, decode) in CANDIDATES {
        let mut times = Vec::new();
        let mut output = None;
        for _ in 0..reps.max(1) {
            let started = Instant::now();
            let result = catch_unwind(AssertUnwindSafe(|| decode(&stream.packets)))
                .unwrap_or_else(|_| Err("panicked".to_owned()));
            times.push(started.elapsed().as_secs_f64());
            match result {
                Ok(pcm) => output = Some(pcm),
                Err(e) => {
                    println!("{file}\t{name}\tFAILED: {e}\t\t\t\t\t");
                    output = None;
                    break;
                }
            }
        }
        let Some(raw) = output else { continue };
        let pcm = stream.trim(&raw);
        if let Ok(dir) = std::env::var("OPUS_EVAL_DUMP") {
            let bytes: Vec<u8> = pcm.iter().flat_map(|s| s.to_le_bytes()).collect();
            let slug: String = name
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            std::fs::write(format!("{dir}/{file}.{slug}.f32"), bytes).expect("write dump");
        }
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        let seconds = pcm.len() as f64 / (RATE * CHANNELS) as f64;
        report(&file, name, pcm, &reference, Some((median, seconds)));
    }
    for (name, path) in extras {
        report(&file, name, &read_f32(path), &reference, None);
    }
}

fn report(file: &str, name: &str, pcm: &[f32], reference: &[f32], timing: Option<(f64, f64)>) {
    let cmp = compare(pcm, reference);
    let (ms, speed) = match timing {
        Some((t, secs)) => (format!("{:.1}", t * 1e3), format!("{:.0}", secs / t)),
        None => ("-".to_owned(), "-".to_owned()),
    };
    println!(
        "{file}\t{name}\t{:.1}\t{:.2e}\t{}\t{}\t{ms}\t{speed}",
        cmp.snr_db, cmp.max_abs_err, cmp.frames, cmp.best_lag
    );
    if pcm.len() != reference.len() {
        eprintln!(
            "note: {file} {name}: {} frames decoded vs {} in the reference",
            pcm.len() / CHANNELS,
            reference.len() / CHANNELS
        );
    }
}

/// The audio packets of a single-stream Ogg-Opus file and its trim points.
struct Stream {
    packets: Vec<Vec<u8>>,
    pre_skip: usize,
    /// Final granule position minus pre-skip: frames of real audio.
    frames: usize,
}

impl Stream {
    fn trim<'a>(&self, raw: &'a [f32]) -> &'a [f32] {
        let start = (self.pre_skip * CHANNELS).min(raw.len());
        let end = ((self.pre_skip + self.frames) * CHANNELS).min(raw.len());
        &raw[start..end]
    }
}

fn demux(path: &str) -> Stream {
    let file = BufReader::new(File::open(path).expect("open opus file"));
    let mut reader = ogg::PacketReader::new(file);
    let head = reader.read_packet_expected().expect("OpusHead");
    assert!(head.data.starts_with(b"OpusHead"), "not an Ogg-Opus file");
    assert_eq!(
        usize::from(head.data[9]),
        CHANNELS,
        "expected a stereo file"
    );
    let pre_skip = usize::from(u16::from_le_bytes([head.data[10], head.data[11]]));
    let tags = reader.read_packet_expected().expect("OpusTags");
    assert!(tags.data.starts_with(b"OpusTags"));
    let mut packets = Vec::new();
    let mut granule = 0u64;
    while let Some(packet) = reader.read_packet().expect("ogg read") {
        if packet.last_in_page() {
            granule = packet.absgp_page();
        }
        packets.push(packet.data);
    }
    let frames = usize::try_from(granule).unwrap() - pre_skip;
    Stream {
        packets,
        pre_skip,
        frames,
    }
}

fn read_f32(path: &str) -> Vec<f32> {
    std::fs::read(path)
        .expect("read raw f32")
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

struct Comparison {
    snr_db: f64,
    max_abs_err: f64,
    frames: usize,
    best_lag: i64,
}

fn compare(pcm: &[f32], reference: &[f32]) -> Comparison {
    let n = pcm.len().min(reference.len());
    let (mut signal, mut noise, mut max_abs_err) = (0f64, 0f64, 0f64);
    for (&x, &r) in pcm[..n].iter().zip(&reference[..n]) {
        let err = f64::from(x) - f64::from(r);
        signal += f64::from(r) * f64::from(r);
        noise += err * err;
        max_abs_err = max_abs_err.max(err.abs());
    }
    let snr_db = if noise == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (signal / noise).log10()
    };
    Comparison {
        snr_db,
        max_abs_err,
        frames: n / CHANNELS,
        best_lag: best_lag(pcm, reference),
    }
}

/// Frame shift of `pcm` against `reference` with the largest correlation over
/// one second from the middle of the reference, searched within ±1024 frames.
fn best_lag(pcm: &[f32], reference: &[f32]) -> i64 {
    let frames = reference.len() / CHANNELS;
    let window = RATE.min(frames / 2);
    let start = (frames / 2).saturating_sub(window / 2);
    let mut best = (f64::NEG_INFINITY, 0i64);
    for lag in -1024i64..=1024 {
        let mut acc = 0f64;
        for i in start..start + window {
            let j = i as i64 + lag;
            if j < 0 || (j as usize) * CHANNELS + 1 >= pcm.len() {
                continue;
            }
            for c in 0..CHANNELS {
                acc += f64::from(reference[i * CHANNELS + c])
                    * f64::from(pcm[j as usize * CHANNELS + c]);
            }
        }
        if acc > best.0 {
            best = (acc, lag);
        }
    }
    best.1
}

fn decode_opus_decoder(packets: &[Vec<u8>]) -> Result<Vec<f32>, String> {
    let mut decoder =
        opus_decoder::OpusDecoder::new(RATE as u32, CHANNELS).map_err(|e| e.to_string())?;
    let mut buf = vec![0f32; MAX_FRAME * CHANNELS];
    let mut out = Vec::new();
    for packet in packets {
        let n = decoder
            .decode_float(packet, &mut buf, false)
            .map_err(|e| e.to_string())?;
        out.extend_from_slice(&buf[..n * CHANNELS]);
    }
    Ok(out)
}

fn decode_mousiki(packets: &[Vec<u8>]) -> Result<Vec<f32>, String> {
    let mut decoder = mousiki::Decoder::new(RATE as u32, mousiki::Channels::Stereo)
        .map_err(|e| format!("{e:?}"))?;
    let mut buf = vec![0f32; MAX_FRAME * CHANNELS];
    let mut out = Vec::new();
    for packet in packets {
        let n = decoder
            .decode_float(packet, &mut buf, false)
            .map_err(|e| format!("{e:?}"))?;
        out.extend_from_slice(&buf[..n * CHANNELS]);
    }
    Ok(out)
}

fn decode_opus_decoder_s16(packets: &[Vec<u8>]) -> Result<Vec<f32>, String> {
    let mut decoder =
        opus_decoder::OpusDecoder::new(RATE as u32, CHANNELS).map_err(|e| e.to_string())?;
    let mut buf = vec![0i16; MAX_FRAME * CHANNELS];
    let mut out = Vec::new();
    for packet in packets {
        let n = decoder
            .decode(packet, &mut buf, false)
            .map_err(|e| e.to_string())?;
        out.extend(buf[..n * CHANNELS].iter().map(|&s| f32::from(s) / 32768.0));
    }
    Ok(out)
}

fn decode_mousiki_s16(packets: &[Vec<u8>]) -> Result<Vec<f32>, String> {
    let mut decoder = mousiki::Decoder::new(RATE as u32, mousiki::Channels::Stereo)
        .map_err(|e| format!("{e:?}"))?;
    let mut buf = vec![0i16; MAX_FRAME * CHANNELS];
    let mut out = Vec::new();
    for packet in packets {
        let n = decoder
            .decode(packet, &mut buf, false)
            .map_err(|e| format!("{e:?}"))?;
        out.extend(buf[..n * CHANNELS].iter().map(|&s| f32::from(s) / 32768.0));
    }
    Ok(out)
}

fn decode_opus_pure(packets: &[Vec<u8>]) -> Result<Vec<f32>, String> {
    let mut decoder =
        opus_pure::OpusDecoder::new(RATE as i32, CHANNELS).map_err(|e| e.to_string())?;
    let mut buf = vec![0f32; MAX_FRAME * CHANNELS];
    let mut out = Vec::new();
    for packet in packets {
        let n = decoder
            .decode(packet, MAX_FRAME, &mut buf)
            .map_err(|e| e.to_string())?;
        out.extend_from_slice(&buf[..n * CHANNELS]);
    }
    Ok(out)
}

fn decode_ruopus(packets: &[Vec<u8>]) -> Result<Vec<f32>, String> {
    let mut decoder = ruopus::OpusDecoder::with_rate(RATE as u32, CHANNELS);
    let mut out = Vec::new();
    for packet in packets {
        out.extend(
            decoder
                .decode_packet(packet)
                .map_err(|e| format!("{e:?}"))?,
        );
    }
    Ok(out)
}

/// Damaged-input robustness: see the module docs.
fn fuzz(path: &str, passes: usize) {
    let stream = demux(path);
    std::panic::set_hook(Box::new(|_| {}));
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut damaged = Vec::new();
    for _ in 0..passes {
        for packet in &stream.packets {
            let mut p = packet.clone();
            match next() % 9 {
                0 => p.truncate((next() as usize) % p.len().max(1)),
                1 => p.iter_mut().for_each(|b| *b = next() as u8),
                2 => {
                    for _ in 0..1 + next() % 8 {
                        let i = (next() as usize) % p.len().max(1);
                        if let Some(b) = p.get_mut(i) {
                            *b ^= 1 << (next() % 8);
                        }
                    }
                }
                _ => {}
            }
            damaged.push(p);
        }
    }
    let file = std::path::Path::new(path)
        .file_name()
        .unwrap()
        .to_string_lossy();
    println!("file\tdecoder\tpackets\terrors\tpanics");
    for (name, decode) in CANDIDATES {
        let (mut errors, mut panics) = (0, 0);
        for packet in &damaged {
            // One packet at a time, so a panic costs only that packet; state does not carry
            // over, which is harsher than a real stream (every packet starts cold).
            match catch_unwind(AssertUnwindSafe(|| decode(std::slice::from_ref(packet)))) {
                Ok(Ok(_)) => {}
                Ok(Err(_)) => errors += 1,
                Err(_) => panics += 1,
            }
        }
        println!("{file}\t{name}\t{}\t{errors}\t{panics}", damaged.len());
    }
}
