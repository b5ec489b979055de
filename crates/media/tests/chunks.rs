//! Distributed chunk encoding (`plan_chunks` → `encode_chunk` per chunk, in any order and in
//! separate calls → `join_chunks`): the joined file is byte-identical to `convert_with` running
//! chunk-parallel in one process, each chunk decodes about its own range only (the demuxer
//! seeks), and what cannot be cut exactly is planned whole with a reason. Inputs are ~3 minutes
//! of music-like audio made with ffmpeg (installed by `.ci/run`); skipped without it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::AtomicBool;

use mp3converter_media::{
    ChunkPlan, Chunking, Control, ConvertOptions, EncodedChunk, EngineChoice, EngineConfig, Extras,
    MediaError, convert_with, encode_chunk, ffmpeg_available, join_chunks, plan_chunks,
};

const SECS: u32 = 190;
const CHUNK_SECS: f64 = 40.0;

fn need_ffmpeg() -> bool {
    let ok = ffmpeg_available(&EngineConfig::default());
    if !ok {
        eprintln!("skipping: ffmpeg is not installed (CI installs it; apt-get install ffmpeg)");
    }
    ok
}

fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-y"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The fixtures' directory, made once per test binary: a FLAC source of chords with a swell, a
/// beat and pink noise (stereo, different in each channel), and the other inputs transcoded
/// from it.
fn fixtures() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src.flac");
        let graph = format!(
            "aevalsrc='(0.25*sin(2*PI*220*t)+0.2*sin(2*PI*277.2*t)\
             +0.15*sin(2*PI*(329.6+8*sin(0.4*t))*t))*(0.6+0.4*sin(2*PI*0.25*t))\
             +0.5*exp(-30*mod(t,0.5))*sin(2*PI*60*t)\
             |(0.2*sin(2*PI*330*t)+0.2*sin(2*PI*165*t))*(0.6+0.4*cos(2*PI*0.3*t))'\
             :s=44100:d={SECS}[a];\
             anoisesrc=color=pink:amplitude=0.04:seed=7:r=44100:d={SECS},\
             aformat=channel_layouts=stereo[n];[a][n]amix=inputs=2:normalize=0"
        );
        ffmpeg(&[
            "-filter_complex",
            &graph,
            "-c:a",
            "flac",
            src.to_str().unwrap(),
        ]);
        let from_src = |name: &str, codec: &[&str]| {
            let mut args = vec!["-i", src.to_str().unwrap()];
            args.extend_from_slice(codec);
            let out = dir.path().join(name);
            args.push(out.to_str().unwrap());
            ffmpeg(&args);
        };
        from_src("pcm.wav", &["-c:a", "pcm_s16le"]);
        from_src("vorbis.ogg", &["-c:a", "libvorbis", "-q:a", "4"]);
        from_src("alac.m4a", &["-c:a", "alac"]);
        // ffmpeg's AAC encoder codes the pink noise's top bands as noise (PNS) unless told not
        // to; those inputs are planned whole.
        from_src("aac.m4a", &["-c:a", "aac", "-b:a", "160k", "-aac_pns", "0"]);
        from_src("pns.m4a", &["-c:a", "aac", "-b:a", "160k"]);
        from_src("vorbis.mkv", &["-c:a", "libvorbis", "-q:a", "4"]);
        from_src("lame.mp3", &["-c:a", "libmp3lame", "-b:a", "224k"]);
        // Stream copy after an input seek keeps the packet the seek falls in and writes an MP4
        // edit list that skips its first part (here 3581 samples).
        // A video file: a small picture that stops half a second before its MP3 audio.
        let video = dir.path().join("video.mp4");
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            &format!(
                "testsrc=size=64x48:rate=2:duration={}",
                f64::from(SECS) - 0.5
            ),
            "-i",
            src.to_str().unwrap(),
            "-c:v",
            "mpeg4",
            "-c:a",
            "libmp3lame",
            "-b:a",
            "192k",
            video.to_str().unwrap(),
        ]);
        let alac = dir.path().join("alac.m4a");
        let edit = dir.path().join("edit.m4a");
        ffmpeg(&[
            "-ss",
            "1.01",
            "-i",
            alac.to_str().unwrap(),
            "-c",
            "copy",
            edit.to_str().unwrap(),
        ]);
        dir
    })
    .path()
}

fn input(name: &str) -> PathBuf {
    fixtures().join(name)
}

/// Two encoder threads, so `convert_with` runs chunk-parallel on these inputs.
fn config() -> EngineConfig {
    EngineConfig {
        threads: 2,
        engine: EngineChoice::Native,
        ..EngineConfig::default()
    }
}

fn split(input: &Path, options: &ConvertOptions) -> ChunkPlan {
    match plan_chunks(input, options, &config(), CHUNK_SECS).unwrap() {
        Chunking::Split(plan) => {
            // The orchestrator stores the plan as JSON and hands it back.
            let json = serde_json::to_string(&plan).unwrap();
            serde_json::from_str(&json).unwrap()
        }
        Chunking::Whole { reason } => panic!("{} planned whole: {reason}", input.display()),
    }
}

fn whole_reason(input: &Path, options: &ConvertOptions, config: &EngineConfig) -> String {
    match plan_chunks(input, options, config, CHUNK_SECS).unwrap() {
        Chunking::Whole { reason } => reason,
        Chunking::Split(plan) => panic!("{} was split: {plan:?}", input.display()),
    }
}

/// A fixed shuffle of `0..n`: odd indices from the end, then even ones from the middle out.
fn shuffled(n: u32) -> Vec<u32> {
    let mut order: Vec<u32> = (0..n).rev().filter(|i| i % 2 == 1).collect();
    let evens: Vec<u32> = (0..n).filter(|i| i % 2 == 0).collect();
    let mid = evens.len() / 2;
    for d in 0..evens.len() {
        let i = if d % 2 == 0 {
            mid + d / 2
        } else {
            mid - d / 2 - 1
        };
        order.push(evens[i.min(evens.len() - 1)]);
    }
    order.dedup();
    assert_eq!(order.len(), n as usize, "{order:?}");
    order
}

/// Encodes every chunk of `plan` in a shuffled order, each in its own call.
fn encode_all(input: &Path, options: &ConvertOptions, plan: &ChunkPlan) -> Vec<EncodedChunk> {
    let mut chunks = vec![None; plan.chunks as usize];
    for i in shuffled(plan.chunks) {
        let chunk = encode_chunk(input, options, &config(), plan, i, Control::none()).unwrap();
        chunks[i as usize] = Some(chunk);
    }
    chunks.into_iter().map(Option::unwrap).collect()
}

/// Plans, encodes in shuffled order, joins, and compares with the one-process chunk-parallel
/// conversion byte for byte; checks each chunk decoded about its own range.
fn assert_joined_is_identical(name: &str, options: &ConvertOptions) -> ChunkPlan {
    let input = input(name);
    let plan = split(&input, options);
    assert!(plan.chunks >= 4, "{name}: {plan:?}");
    let chunks = encode_all(&input, options, &plan);

    let dir = tempfile::tempdir().unwrap();
    let joined = dir.path().join("joined.mp3");
    // As the orchestrator stores them: the frames in blob storage, the counts as JSON.
    let mut items = chunks.iter().map(|c| {
        let stored = serde_json::to_string(c).unwrap();
        assert!(!stored.contains("bytes"), "{stored}");
        let meta: EncodedChunk = serde_json::from_str(&stored).unwrap();
        Ok(EncodedChunk {
            bytes: c.bytes.clone(),
            ..meta
        })
    });
    let report = join_chunks(
        &input,
        &joined,
        options,
        &Extras::default(),
        &config(),
        &plan,
        &mut items,
    )
    .unwrap();
    let whole = dir.path().join("whole.mp3");
    let whole_report = convert_with(
        &input,
        &whole,
        options,
        &Extras::default(),
        &config(),
        Control::none(),
    )
    .unwrap();
    assert_eq!(
        whole_report.threads, 2,
        "the reference must run chunk-parallel"
    );
    let (a, b) = (
        std::fs::read(&whole).unwrap(),
        std::fs::read(&joined).unwrap(),
    );
    assert_eq!(a.len(), b.len(), "{name}: joined length");
    let first_diff = a.iter().zip(&b).position(|(x, y)| x != y);
    assert_eq!(first_diff, None, "{name}: joined file differs at byte");
    assert_eq!(report.bytes, whole_report.bytes);
    assert_eq!(report.duration_secs, whole_report.duration_secs);
    assert_eq!(
        (report.sample_rate, report.channels),
        (whole_report.sample_rate, whole_report.channels)
    );

    let decoded: u64 = chunks.iter().map(|c| c.decoded_samples).sum();
    let output: u64 = chunks.iter().map(|c| c.samples).sum();
    eprintln!(
        "{name}: {} chunks decoded {decoded} samples for {output} output samples ({:.3}×)",
        plan.chunks,
        decoded as f64 / output as f64
    );
    // Each chunk decoded its own range, its pre-rolls and a margin: not the input up to it.
    let spf = plan.samples_per_frame;
    let rate = u64::from(plan.sample_rate);
    let own = (plan.chunk_frames + plan.preroll_frames + plan.tail_frames) * spf;
    for (i, c) in chunks.iter().enumerate() {
        let bound = own.max(c.samples + (plan.preroll_frames + plan.tail_frames) * spf) + 2 * rate;
        assert!(
            c.decoded_samples <= bound,
            "{name}: chunk {i} decoded {} samples, more than {bound}",
            c.decoded_samples
        );
    }
    plan
}

fn mp3(bitrate: u16) -> ConvertOptions {
    ConvertOptions {
        bitrate: Some(bitrate),
        ..ConvertOptions::default()
    }
}

#[test]
fn flac_chunks_join_into_the_parallel_encode() {
    if need_ffmpeg() {
        assert_joined_is_identical("src.flac", &mp3(192));
    }
}

#[test]
fn wav_chunks_join_into_the_parallel_encode_in_mono() {
    if need_ffmpeg() {
        let options = ConvertOptions {
            mono: true,
            ..mp3(128)
        };
        let plan = assert_joined_is_identical("pcm.wav", &options);
        assert_eq!(plan.channels, 1);
    }
}

#[test]
fn ogg_vorbis_chunks_join_into_the_parallel_encode_in_vbr() {
    if need_ffmpeg() {
        let options = ConvertOptions {
            vbr: Some(2),
            ..ConvertOptions::default()
        };
        assert_joined_is_identical("vorbis.ogg", &options);
    }
}

#[test]
fn mp4_alac_chunks_join_into_the_parallel_encode() {
    if need_ffmpeg() {
        assert_joined_is_identical("alac.m4a", &mp3(160));
    }
}

#[test]
fn mp3_chunks_reencoded_join_into_the_parallel_encode() {
    if need_ffmpeg() {
        assert_joined_is_identical("lame.mp3", &mp3(128));
    }
}

#[test]
fn a_video_files_mp3_audio_joins_into_the_parallel_encode() {
    if need_ffmpeg() {
        assert_joined_is_identical("video.mp4", &mp3(128));
    }
}

#[test]
fn mp4_aac_chunks_join_into_the_parallel_encode() {
    if need_ffmpeg() {
        assert_joined_is_identical("aac.m4a", &mp3(192));
    }
}

#[test]
fn mp4_with_an_edit_list_and_a_trim_join_into_the_parallel_encode() {
    if need_ffmpeg() {
        assert_joined_is_identical("edit.m4a", &mp3(192));
        let trimmed = ConvertOptions {
            start: Some(7.3),
            end: Some(181.7),
            ..mp3(192)
        };
        assert_joined_is_identical("edit.m4a", &trimmed);
    }
}

#[test]
fn audio_shorter_than_declared_ends_in_an_earlier_chunk() {
    if !need_ffmpeg() {
        return;
    }
    // A FLAC cut off at 60 %: STREAMINFO still says 190 s.
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.flac");
    let bytes = std::fs::read(input("src.flac")).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() * 6 / 10]).unwrap();
    let options = mp3(192);
    let plan = split(&cut, &options);
    let chunks = encode_all(&cut, &options, &plan);
    let ends = chunks.iter().position(|c| c.last).unwrap();
    assert!(ends + 1 < plan.chunks as usize, "{plan:?}");
    assert!(
        chunks[ends + 1..]
            .iter()
            .all(|c| c.bytes.is_empty() && c.frames == 0)
    );
    let joined = dir.path().join("joined.mp3");
    join_chunks(
        &cut,
        &joined,
        &options,
        &Extras::default(),
        &config(),
        &plan,
        &mut chunks.into_iter().map(Ok),
    )
    .unwrap();
    let whole = dir.path().join("whole.mp3");
    convert_with(
        &cut,
        &whole,
        &options,
        &Extras::default(),
        &config(),
        Control::none(),
    )
    .unwrap();
    assert!(std::fs::read(&whole).unwrap() == std::fs::read(&joined).unwrap());
}

/// `src.flac` with STREAMINFO's total sample count set to `secs` seconds.
fn flac_declaring(dir: &Path, secs: u64) -> PathBuf {
    let mut bytes = std::fs::read(input("src.flac")).unwrap();
    assert_eq!(&bytes[..4], b"fLaC");
    // STREAMINFO: 20 bits of rate, 3 of channels, 5 of bits per sample, 36 of total samples,
    // from byte 18.
    let mut packed = u64::from_be_bytes(bytes[18..26].try_into().unwrap());
    packed = (packed & !((1 << 36) - 1)) | (secs * 44_100);
    bytes[18..26].copy_from_slice(&packed.to_be_bytes());
    let path = dir.join(format!("declares-{secs}.flac"));
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn audio_longer_than_declared_goes_in_the_last_chunk_within_bounds() {
    if !need_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let options = mp3(192);
    // Longer than declared (190 s, declared 130 s): the last chunk holds the rest.
    let near = flac_declaring(dir.path(), 130);
    let plan = split(&near, &options);
    let chunks = encode_all(&near, &options, &plan);
    let last = chunks.last().unwrap();
    assert!(
        last.last && last.samples > plan.chunk_frames * plan.samples_per_frame,
        "{plan:?} {:?}",
        (last.samples, last.frames, last.decoded_samples)
    );
    let joined = dir.path().join("joined.mp3");
    let mut items = chunks.into_iter().map(Ok);
    join_chunks(
        &near,
        &joined,
        &options,
        &Extras::default(),
        &config(),
        &plan,
        &mut items,
    )
    .unwrap();
    let whole = dir.path().join("whole.mp3");
    convert_with(
        &near,
        &whole,
        &options,
        &Extras::default(),
        &config(),
        Control::none(),
    )
    .unwrap();
    assert!(std::fs::read(&whole).unwrap() == std::fs::read(&joined).unwrap());

    // Far longer: refused (the orchestrator converts it whole) rather than held in one task.
    let far = flac_declaring(dir.path(), 60);
    let plan = split(&far, &options);
    let e = encode_chunk(
        &far,
        &options,
        &config(),
        &plan,
        plan.chunks - 1,
        Control::none(),
    )
    .unwrap_err();
    assert!(mismatch(e).contains("declared length"));
}

#[test]
fn what_cannot_be_cut_exactly_is_planned_whole_with_the_reason() {
    if !need_ffmpeg() {
        return;
    }
    let flac = input("src.flac");
    let reason = |input: &Path, options: ConvertOptions| whole_reason(input, &options, &config());
    let loud = reason(
        &flac,
        ConvertOptions {
            loudness: Some(-16.0),
            ..mp3(192)
        },
    );
    assert!(loud.contains("loudness"), "{loud}");
    let split = reason(
        &flac,
        ConvertOptions {
            split: Some(mp3converter_core::Split::Silence),
            ..mp3(192)
        },
    );
    assert!(split.contains("split"), "{split}");
    let opus = reason(
        &flac,
        ConvertOptions {
            format: Some(mp3converter_core::AudioFormat::Opus),
            bitrate: Some(96),
            ..ConvertOptions::default()
        },
    );
    assert!(opus.contains("Opus"), "{opus}");
    let resampled = reason(
        &flac,
        ConvertOptions {
            sample_rate: Some(32_000),
            ..mp3(128)
        },
    );
    assert!(resampled.contains("resampled"), "{resampled}");
    let aac = reason(&input("pns.m4a"), mp3(192));
    assert!(aac.contains("noise substitution"), "{aac}");
    let mkv = reason(&input("vorbis.mkv"), mp3(192));
    assert!(mkv.contains("timestamps"), "{mkv}");
    let ffmpeg_route = whole_reason(
        &flac,
        &mp3(192),
        &EngineConfig {
            engine: EngineChoice::Ffmpeg,
            ..config()
        },
    );
    assert!(ffmpeg_route.contains("ffmpeg"), "{ffmpeg_route}");
    let short = match plan_chunks(&flac, &mp3(192), &config(), 200.0).unwrap() {
        Chunking::Whole { reason } => reason,
        Chunking::Split(p) => panic!("{p:?}"),
    };
    assert!(short.contains("shorter than two chunks"), "{short}");
}

fn mismatch(e: MediaError) -> String {
    assert_eq!(e.code(), "chunk-mismatch", "{e}");
    assert!(e.is_permanent());
    e.to_string()
}

#[test]
fn a_tampered_or_foreign_plan_fails_cleanly() {
    if !need_ffmpeg() {
        return;
    }
    let flac = input("src.flac");
    let options = mp3(192);
    let plan = split(&flac, &options);
    let encode = |input: &Path, options: &ConvertOptions, plan: &ChunkPlan, i: u32| {
        encode_chunk(input, options, &config(), plan, i, Control::none())
    };
    let e = mismatch(encode(&flac, &options, &plan, plan.chunks).unwrap_err());
    assert!(e.contains(&format!("chunk {}", plan.chunks)), "{e}");
    let e = mismatch(encode(&input("pcm.wav"), &options, &plan, 1).unwrap_err());
    assert!(e.contains("another input"), "{e}");
    let e = mismatch(encode(&flac, &mp3(128), &plan, 1).unwrap_err());
    assert!(e.contains("other options"), "{e}");
    for altered in [
        ChunkPlan {
            chunk_frames: plan.chunk_frames + 1,
            ..plan.clone()
        },
        ChunkPlan {
            preroll_frames: 0,
            ..plan.clone()
        },
        ChunkPlan {
            chunks: 0,
            ..plan.clone()
        },
        ChunkPlan {
            sample_rate: 12_345,
            ..plan.clone()
        },
        ChunkPlan {
            encoder_delay: 1,
            ..plan.clone()
        },
        ChunkPlan {
            expected_samples: u64::MAX,
            ..plan.clone()
        },
        ChunkPlan {
            chunks: u32::MAX,
            ..plan.clone()
        },
    ] {
        mismatch(encode(&flac, &options, &altered, 0).unwrap_err());
    }

    // The join checks the chunks add up, and leaves no output when they do not.
    let chunks = encode_all(&flac, &options, &plan);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.mp3");
    let join = |chunks: Vec<EncodedChunk>| {
        join_chunks(
            &flac,
            &out,
            &options,
            &Extras::default(),
            &config(),
            &plan,
            &mut chunks.into_iter().map(Ok),
        )
    };
    let mut missing = chunks.clone();
    missing.remove(1);
    mismatch(join(missing).unwrap_err());
    let mut extra = chunks.clone();
    extra.push(EncodedChunk::default());
    mismatch(join(extra).unwrap_err());
    let mut cut = chunks.clone();
    let len = cut[0].bytes.len();
    cut[0].bytes.truncate(len - 10);
    mismatch(join(cut).unwrap_err());
    let mut unended = chunks.clone();
    unended.last_mut().unwrap().last = false;
    mismatch(join(unended).unwrap_err());
    let failed = join_chunks(
        &flac,
        &out,
        &options,
        &Extras::default(),
        &config(),
        &plan,
        &mut chunks
            .iter()
            .cloned()
            .map(Ok)
            .take(1)
            .chain(std::iter::once(Err(MediaError::Cancelled))),
    );
    assert!(matches!(failed, Err(MediaError::Cancelled)), "{failed:?}");
    assert!(!out.exists(), "a failed join leaves no output");
    join(chunks).unwrap();
    assert!(out.exists());
}

#[test]
fn a_chunk_reports_progress_and_stops_when_cancelled() {
    if !need_ffmpeg() {
        return;
    }
    let ogg = input("vorbis.ogg");
    let options = mp3(128);
    let plan = split(&ogg, &options);
    let seen = std::sync::Mutex::new(Vec::new());
    let progress = |f: f64| seen.lock().unwrap().push(f);
    let never = AtomicBool::new(false);
    let chunk = encode_chunk(
        &ogg,
        &options,
        &config(),
        &plan,
        2,
        Control {
            progress: &progress,
            cancel: &never,
        },
    )
    .unwrap();
    assert_eq!(chunk.frames, plan.chunk_frames);
    let seen = seen.into_inner().unwrap();
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
    assert!(seen.len() > 10 && seen.last() == Some(&1.0), "{seen:?}");

    let cancelled = AtomicBool::new(true);
    let e = encode_chunk(
        &ogg,
        &options,
        &config(),
        &plan,
        2,
        Control {
            progress: &|_| {},
            cancel: &cancelled,
        },
    )
    .unwrap_err();
    assert!(matches!(e, MediaError::Cancelled), "{e}");
}
