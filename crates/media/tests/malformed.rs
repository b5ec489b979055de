//! The malformed-media corpus (`corpus/mod.rs`) through the engine: every input either fails
//! with a clear, permanent, typed error, or converts to a sane MP3 — never a panic, a hang, an
//! I/O error (which workers would retry forever) or an encoder error.

mod corpus;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Mutex;

use corpus::Case;
use mp3converter_media::{
    Control, ConvertOptions, EngineChoice, EngineConfig, MediaError, convert, probe,
};

/// Codes a damaged input may fail with: all permanent, all explainable to the uploader.
const ACCEPTED: &[&str] = &[
    "not-media",
    "empty-file",
    "no-audio-track",
    "unsupported-input",
    "corrupt-media",
    "too-long",
    "too-many-channels",
    "bad-sample-rate",
    "empty-selection",
];

/// Longest output any fixture can give (they are at most 3 s long).
const MAX_OUTPUT_SECS: f64 = 10.0;

/// The native engine with no ffmpeg or ffprobe to fall back on: the same answers on every
/// machine (inputs ffmpeg would take fail as unsupported).
fn config() -> EngineConfig {
    EngineConfig {
        engine: EngineChoice::Native,
        ffmpeg_path: "/nonexistent/ffmpeg".into(),
        ffprobe_path: "/nonexistent/ffprobe".into(),
        ..EngineConfig::default()
    }
}

/// What is wrong with how the engine treated `case`, if anything.
fn check_error(what: &str, e: &MediaError, also: &[&str]) -> Option<String> {
    let accepted = ACCEPTED.contains(&e.code()) || also.contains(&e.code());
    if !accepted || !e.is_permanent() {
        return Some(format!("{what}: unexpected error {} ({e:?})", e.code()));
    }
    if e.to_string().trim().is_empty() {
        return Some(format!("{what}: empty error message"));
    }
    None
}

fn run_case(case: &Case, dir: &Path, config: &EngineConfig, also: &[&str]) -> Option<String> {
    let input = dir.join("input");
    std::fs::write(&input, &case.bytes).unwrap();
    let output = dir.join("out.mp3");
    let probed = probe(&input, config);
    if let Err(e) = &probed
        && let Some(problem) = check_error("probe", e, also)
    {
        return Some(problem);
    }
    match convert(
        &input,
        &output,
        &ConvertOptions::default(),
        config,
        Control::none(),
    ) {
        Err(e) => check_error("convert", &e, also),
        Ok(report) => {
            if !(0.0..=MAX_OUTPUT_SECS).contains(&report.duration_secs) {
                return Some(format!("convert: absurd duration {}", report.duration_secs));
            }
            let size = std::fs::metadata(&output).map(|m| m.len()).unwrap_or(0);
            if size != report.bytes || size == 0 {
                return Some(format!(
                    "convert: output of {size} bytes, report says {}",
                    report.bytes
                ));
            }
            // The output must read back as an MP3 of the reported length.
            match probe(&output, config) {
                Ok(p) if p.container == "mp3" => {
                    let secs = p.duration_secs.unwrap_or(-1.0);
                    ((secs - report.duration_secs).abs() > 0.1).then(|| {
                        format!(
                            "convert: output is {secs} s, report says {}",
                            report.duration_secs
                        )
                    })
                }
                Ok(p) => Some(format!("convert: output is {}", p.container)),
                Err(e) => Some(format!("convert: output does not probe: {e}")),
            }
        }
    }
}

/// Runs every case on two threads, each in `catch_unwind` so one panic does not hide the others;
/// returns the problems found.
fn run_all(cases: &[Case], config: &EngineConfig, also: &[&str]) -> Vec<String> {
    let problems = Mutex::new(Vec::new());
    let next = Mutex::new(cases.iter());
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                let dir = tempfile::tempdir().unwrap();
                loop {
                    let Some(case) = next.lock().unwrap().next() else {
                        break;
                    };
                    // Printed first, so a hang names its case.
                    eprintln!("case: {} ({} bytes)", case.name, case.bytes.len());
                    let outcome = catch_unwind(AssertUnwindSafe(|| {
                        run_case(case, dir.path(), config, also)
                    }));
                    let problem = match outcome {
                        Ok(problem) => problem,
                        Err(panic) => Some(format!(
                            "panicked: {}",
                            panic
                                .downcast_ref::<String>()
                                .cloned()
                                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                                .unwrap_or_default()
                        )),
                    };
                    if let Some(problem) = problem {
                        problems
                            .lock()
                            .unwrap()
                            .push(format!("{}: {problem}", case.name));
                    }
                }
            });
        }
    });
    problems.into_inner().unwrap()
}

#[test]
fn every_malformed_input_fails_cleanly_or_converts_sanely() {
    let cases = corpus::corpus();
    assert!(cases.len() > 300, "the corpus is {} cases", cases.len());
    let problems = run_all(&cases, &config(), &[]);
    assert!(
        problems.is_empty(),
        "{} of {} cases:\n{}",
        problems.len(),
        cases.len(),
        problems.join("\n")
    );
}

/// The fuzzers' findings fail cleanly or convert sanely — and were handled before anything
/// broke, not rescued by the engine's panic guard (nor, for LAME's asserts, not at all: an abort
/// ends this test binary).
#[test]
fn what_the_fuzzer_found_is_handled() {
    let findings = corpus::fuzz_findings();
    assert!(findings.len() >= 5, "{} findings", findings.len());
    let dir = tempfile::tempdir().unwrap();
    for case in &findings {
        if let Some(problem) = run_case(case, dir.path(), &config(), &[]) {
            panic!("{}: {problem}", case.name);
        }
        let input = dir.path().join("input");
        let out = dir.path().join("again.mp3");
        for e in [
            probe(&input, &config()).err(),
            convert(
                &input,
                &out,
                &ConvertOptions::default(),
                &config(),
                Control::none(),
            )
            .err(),
        ]
        .into_iter()
        .flatten()
        {
            assert!(
                !e.to_string().contains("could not make sense"),
                "{}: {e}",
                case.name
            );
        }
    }
}

#[test]
fn malformed_inputs_through_ffmpeg_fail_cleanly_too() {
    let auto = EngineConfig::default();
    if !mp3converter_media::ffmpeg_available(&auto) {
        eprintln!("skipping: ffmpeg is not installed (CI installs it; apt-get install ffmpeg)");
        return;
    }
    // ffmpeg's own refusal (permanent, with its reason) is fine here; a panic or a retryable
    // error for a damaged file is not.
    let cases = corpus::sampler();
    let problems = run_all(&cases, &auto, &["ffmpeg-failed"]);
    assert!(
        problems.is_empty(),
        "{} of {} cases:\n{}",
        problems.len(),
        cases.len(),
        problems.join("\n")
    );
}

/// Absurd header values fail before any decoding, with the reason in the header's terms (the
/// WAV channel count before symphonia, whose reader overflows on 65535 channels, sees it).
#[test]
fn absurd_declared_values_are_refused_from_the_headers() {
    let expected = [
        ("zero bytes", "empty-file"),
        ("declared: wav channels 65535", "too-many-channels"),
        ("declared: wav channels 1000", "too-many-channels"),
        ("declared: wav rate 0", "bad-sample-rate"),
        ("declared: wav rate 4294967295", "bad-sample-rate"),
        ("declared: wav rate 1", "too-long"),
        ("declared: mp4 mdhd timescale 1", "too-long"),
        ("declared: mp4 timescale 0", "corrupt-media"),
        ("declared: mp4a rate 0", "bad-sample-rate"),
        ("declared: mkv duration 1e15 ms", "too-long"),
        ("declared: mp3 info frame count 2^31", "too-long"),
    ];
    let corpus = corpus::corpus();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input");
    let out = dir.path().join("out.mp3");
    for (name, code) in expected {
        let case = corpus
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no case {name}"));
        std::fs::write(&input, &case.bytes).unwrap();
        let got = convert(
            &input,
            &out,
            &ConvertOptions::default(),
            &config(),
            Control::none(),
        )
        .map(|r| format!("converted {} s", r.duration_secs))
        .unwrap_or_else(|e| e.code().to_owned());
        assert_eq!(got, code, "{name}");
        assert!(!out.exists(), "{name}: no output after a failure");
    }
}
