//! Tests of the loudness meter and the normaliser on signals made in code: speech-like,
//! music-like and white noise, mono and stereo, at 44.1 and 48 kHz, quiet and loud.

use super::*;

/// Ceiling used throughout, dBTP.
const CEILING: f64 = -1.0;

/// Planar audio: `right` is empty for mono.
#[derive(Debug, Clone, PartialEq)]
struct Audio {
    rate: u32,
    left: Vec<f32>,
    right: Vec<f32>,
}

impl Audio {
    fn channels(&self) -> usize {
        if self.right.is_empty() { 1 } else { 2 }
    }

    fn len(&self) -> usize {
        self.left.len()
    }

    fn scaled(&self, factor: f32) -> Audio {
        Audio {
            rate: self.rate,
            left: self.left.iter().map(|s| s * factor).collect(),
            right: self.right.iter().map(|s| s * factor).collect(),
        }
    }
}

/// A small deterministic noise source (xorshift64*).
struct Rng(u64);

impl Rng {
    /// Uniform in [-1, 1).
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let bits = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 40;
        bits as f32 / (1u64 << 23) as f32 - 1.0
    }
}

/// What a test signal sounds like.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    /// A voiced buzz and band-limited noise under a 4 Hz syllabic envelope, with pauses.
    Speech,
    /// Chords of harmonic tones with a beat envelope, plus kick and snare transients.
    Music,
    /// Uniform white noise (independent channels).
    Noise,
}

/// `secs` of `kind` at an arbitrary level.
fn generate(kind: Kind, rate: u32, channels: usize, secs: f64) -> Audio {
    let n = (f64::from(rate) * secs) as usize;
    let (left, right) = match kind {
        Kind::Speech => speech(rate, n, channels),
        Kind::Music => music(rate, n, channels),
        Kind::Noise => {
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
            let left = (0..n).map(|_| rng.next()).collect();
            let right = if channels == 2 {
                (0..n).map(|_| rng.next()).collect()
            } else {
                Vec::new()
            };
            (left, right)
        }
    };
    Audio { rate, left, right }
}

fn speech(rate: u32, n: usize, channels: usize) -> (Vec<f32>, Vec<f32>) {
    let fs = f64::from(rate);
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let (mut phase, mut low, mut high_prev_in, mut high) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    let lp = 1.0 - (-std::f64::consts::TAU * 3000.0 / fs).exp();
    let hp = (-std::f64::consts::TAU * 200.0 / fs).exp();
    let mut syllable_gain = 1.0;
    let mut left = Vec::with_capacity(n);
    let mut right = Vec::new();
    for i in 0..n {
        let t = i as f64 / fs;
        // A new random syllable strength at each syllable start.
        if i % (rate as usize / 4) == 0 {
            syllable_gain = 0.3 + 0.7 * f64::from(rng.next()).abs();
        }
        let syllabic = (std::f64::consts::TAU * 4.0 * t).sin().max(0.0).powi(2);
        let pause = if t % 2.5 >= 2.0 { 0.0 } else { 1.0 };
        let f0 = 110.0 + 20.0 * (std::f64::consts::TAU * 0.5 * t).sin();
        phase += std::f64::consts::TAU * f0 / fs;
        let voiced: f64 = (1..=10).map(|h| (phase * h as f64).sin() / h as f64).sum();
        // Noise band-passed 200 Hz – 3 kHz with one-pole filters.
        let white = f64::from(rng.next());
        low += lp * (white - low);
        high = hp * (high + low - high_prev_in);
        high_prev_in = low;
        let s = syllable_gain * syllabic * pause * (0.5 * voiced + 1.5 * high);
        left.push(s as f32);
        if channels == 2 {
            right.push((0.9 * s + 0.02 * f64::from(rng.next())) as f32);
        }
    }
    (left, right)
}

fn music(rate: u32, n: usize, channels: usize) -> (Vec<f32>, Vec<f32>) {
    let fs = f64::from(rate);
    let chords = [
        [220.0, 277.18, 329.63],
        [293.66, 369.99, 440.0],
        [196.0, 246.94, 293.66],
    ];
    let mut rng = Rng(0x0bad_cafe_dead_beef);
    let mut left = Vec::with_capacity(n);
    let mut right = Vec::new();
    for i in 0..n {
        let t = i as f64 / fs;
        let chord = &chords[(t / 2.0) as usize % chords.len()];
        let beat = 0.4 + 0.6 * (-(t % 0.5) / 0.2).exp();
        let mut notes = [0.0f64; 3];
        for (note, &f) in notes.iter_mut().zip(chord) {
            *note = (1..=6)
                .map(|h| 0.6f64.powi(h) * (std::f64::consts::TAU * f * h as f64 * t).sin())
                .sum::<f64>()
                * beat;
        }
        // Kick on the beat, snare on the off-beat.
        let since = t % 0.25;
        let drum = if ((t / 0.25) as usize).is_multiple_of(2) {
            5.0 * (std::f64::consts::TAU * 60.0 * since).sin() * (-since / 0.05).exp()
        } else {
            4.0 * f64::from(rng.next()) * (-since / 0.015).exp()
        };
        let l = notes[0] + notes[1] + 0.5 * notes[2] + drum;
        left.push(l as f32);
        if channels == 2 {
            right.push((0.5 * notes[0] + notes[1] + notes[2] + drum) as f32);
        }
    }
    (left, right)
}

/// Measures `audio` with a fresh meter, in blocks of 4096.
fn measure(audio: &Audio) -> Loudness {
    let mut meter = LoudnessMeter::new(audio.rate, audio.channels()).unwrap();
    for (i, left) in audio.left.chunks(4096).enumerate() {
        let right = audio.right.chunks(4096).nth(i).unwrap_or(&[]);
        meter.push(left, right).unwrap();
    }
    meter.finish().unwrap()
}

/// `audio` scaled to `lufs`.
fn at_level(audio: &Audio, lufs: f64) -> Audio {
    let measured = measure(audio).integrated_lufs;
    audio.scaled(10f64.powf((lufs - measured) / 20.0) as f32)
}

/// Runs both passes over `audio`, pushing blocks of `block` samples.
fn normalise(audio: &Audio, target: f64, block: usize) -> (Normalizer, Audio) {
    let measured = measure(audio);
    let mut norm = Normalizer::new(audio.rate, audio.channels(), &measured, target, CEILING);
    let mut out = Audio {
        rate: audio.rate,
        left: Vec::new(),
        right: Vec::new(),
    };
    for (i, left) in audio.left.chunks(block).enumerate() {
        let right = audio.right.chunks(block).nth(i).unwrap_or(&[]);
        norm.push(left, right, &mut out.left, &mut out.right);
    }
    norm.finish(&mut out.left, &mut out.right);
    (norm, out)
}

/// The module's own estimate of the true peak of `audio`, dBTP.
fn own_true_peak(audio: &Audio) -> f64 {
    let mut scanner = PeakScanner::new();
    let mut peaks = vec![0.0; CHUNK];
    let mut peak = 0.0f32;
    let tail = [0.0; PHASE_TAPS];
    let padded_left = [audio.left.as_slice(), &tail].concat();
    let padded_right = if audio.right.is_empty() {
        Vec::new()
    } else {
        [audio.right.as_slice(), &tail].concat()
    };
    for (i, left) in padded_left.chunks(CHUNK).enumerate() {
        let right = padded_right.chunks(CHUNK).nth(i).unwrap_or(&[]);
        // A threshold of 0 scans everything.
        scanner.scan(left, right, 0.0, &mut peaks);
        peak = peaks[..left.len()].iter().fold(peak, |m, &p| m.max(p));
    }
    20.0 * f64::from(peak).log10()
}

#[test]
fn normalised_output_meets_the_target_and_the_true_peak_ceiling() {
    let mut failures = Vec::new();
    let mut case = 0;
    for kind in [Kind::Speech, Kind::Music, Kind::Noise] {
        for rate in [44_100, 48_000] {
            for channels in [1, 2] {
                let raw = generate(kind, rate, channels, 5.0);
                for source in [-35.0, -10.0] {
                    let input = at_level(&raw, source);
                    let before = measure(&input);
                    for target in [-16.0, -23.0] {
                        let block = [1000, 4097][case % 2];
                        case += 1;
                        let (norm, out) = normalise(&input, target, block);
                        let after = measure(&out);
                        let overshoot = before.true_peak_dbtp + norm.gain_db() - CEILING;
                        let own = own_true_peak(&out);
                        eprintln!(
                            "{kind:?} {rate} {channels}ch {source} -> {target}: pre-limit peak {overshoot:+.2} dB over, \
                             out {:.2} LUFS, {:.3} dBTP (own {own:.3}), LRA {:.1}",
                            after.integrated_lufs, after.true_peak_dbtp, after.range_lu
                        );
                        if out.len() != input.len() || out.channels() != input.channels() {
                            failures.push(format!("{kind:?} {rate} {channels}: length"));
                        }
                        if after.true_peak_dbtp > CEILING + 0.1 || own > CEILING {
                            failures.push(format!(
                                "{kind:?} {rate} {channels}ch {source} -> {target}: true peak {} (own {own})",
                                after.true_peak_dbtp
                            ));
                        }
                        if (after.integrated_lufs - target).abs() > 0.5 {
                            failures.push(format!(
                                "{kind:?} {rate} {channels}ch {source} -> {target}: {} LUFS",
                                after.integrated_lufs
                            ));
                        }
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn heavy_limiting_keeps_every_true_peak_under_the_ceiling() {
    // Targets far louder than the signals' peaks allow: the limiter takes 10 dB and more off
    // the transients. A square wave adds edges with inter-sample overshoot (Gibbs).
    let square = Audio {
        rate: 44_100,
        left: (0..44_100 * 4)
            .map(|i| if (i / 50) % 2 == 0 { 0.5 } else { -0.5 })
            .collect(),
        right: Vec::new(),
    };
    let mut worst = f64::NEG_INFINITY;
    for (input, target) in [
        (generate(Kind::Music, 48_000, 2, 6.0), -6.0),
        (generate(Kind::Speech, 44_100, 1, 6.0), -6.0),
        (generate(Kind::Music, 44_100, 1, 6.0), -3.0),
        (square, 8.0),
    ] {
        let before = measure(&input);
        let (norm, out) = normalise(&input, target, 4097);
        let overshoot = before.true_peak_dbtp + norm.gain_db() - CEILING;
        let after = measure(&out);
        let own = own_true_peak(&out);
        eprintln!("{overshoot:+.2} dB over before limiting: {after:?}, own estimate {own:.4} dBTP");
        assert!(
            overshoot > 6.0,
            "the limiter has little to do: {overshoot} dB"
        );
        assert_eq!(out.len(), input.len());
        assert!(after.true_peak_dbtp <= CEILING + 0.1, "{after:?}");
        worst = worst.max(own);
    }
    // On its own oversampled estimate, the limiter never lets a peak through.
    assert!(worst <= CEILING, "{worst}");
}

#[test]
fn a_signal_that_needs_no_limiting_comes_out_as_input_times_the_gain() {
    for channels in [1, 2] {
        // White noise at −23 LUFS peaks near −20 dBTP, far under the ceiling.
        let input = at_level(&generate(Kind::Noise, 48_000, channels, 3.0), -30.0);
        let (norm, out) = normalise(&input, -23.0, 1000);
        assert!((norm.gain_db() - 7.0).abs() < 0.01, "{}", norm.gain_db());
        let gain = 10f64.powf(norm.gain_db() / 20.0) as f32;
        assert_eq!(out.len(), input.len());
        assert_eq!(out.channels(), channels);
        for (o, i) in [(&out.left, &input.left), (&out.right, &input.right)] {
            for (n, (o, i)) in o.iter().zip(i).enumerate() {
                assert!(
                    (o - i * gain).abs() <= 1e-6,
                    "sample {n}: {o} != {i} × {gain}"
                );
            }
        }
    }
}

#[test]
fn silence_stays_silence_with_zero_gain() {
    let silence = Audio {
        rate: 44_100,
        left: vec![0.0; 88_200],
        right: vec![0.0; 88_200],
    };
    let measured = measure(&silence);
    assert_eq!(measured.integrated_lufs, f64::NEG_INFINITY);
    assert_eq!(measured.true_peak_dbtp, f64::NEG_INFINITY);
    let (norm, out) = normalise(&silence, -16.0, 4097);
    assert_eq!(norm.gain_db(), 0.0);
    assert_eq!(out, silence);
}

#[test]
fn the_gain_is_capped_at_plus_40_db() {
    let quiet = Loudness {
        integrated_lufs: -70.0,
        true_peak_dbtp: -60.0,
        range_lu: 3.0,
    };
    assert_eq!(
        Normalizer::new(48_000, 2, &quiet, -16.0, CEILING).gain_db(),
        MAX_GAIN_DB
    );
    let loud = Loudness {
        integrated_lufs: -9.0,
        ..quiet
    };
    assert_eq!(
        Normalizer::new(48_000, 2, &loud, -23.0, CEILING).gain_db(),
        -14.0
    );
}

#[test]
fn inter_sample_peaks_are_limited_on_the_true_peak() {
    // A sine at fs/4 with phase π/4: every sample is at ±0.707 of the amplitude, and the true
    // peak (the amplitude) lies halfway between samples.
    let rate = 48_000;
    let amplitude = 0.5f32;
    let left = (0..rate as usize * 3)
        .map(|i| {
            let phase = std::f64::consts::FRAC_PI_2 * i as f64 + std::f64::consts::FRAC_PI_4;
            amplitude * phase.sin() as f32
        })
        .collect();
    let input = Audio {
        rate,
        left,
        right: Vec::new(),
    };
    // A gain that puts the true peak 2.5 dB over the ceiling and the samples 0.5 dB under it.
    let gain_db = CEILING + 2.5 - 20.0 * f64::from(amplitude).log10();
    let target = measure(&input).integrated_lufs + gain_db;
    let gained = input.scaled(10f64.powf(gain_db / 20.0) as f32);
    let sample_peak = gained.left.iter().fold(0.0f32, |m, s| m.max(s.abs()));
    assert!(20.0 * f64::from(sample_peak).log10() < CEILING);
    assert!(measure(&gained).true_peak_dbtp > CEILING + 2.0);

    let (norm, out) = normalise(&input, target, 1000);
    assert!((norm.gain_db() - gain_db).abs() < 0.01);
    assert_eq!(out.len(), input.len());
    let after = measure(&out);
    assert!(after.true_peak_dbtp <= CEILING + 0.1, "{after:?}");
}

#[test]
fn the_output_does_not_depend_on_the_block_size() {
    let input = at_level(&generate(Kind::Music, 44_100, 2, 3.0), -35.0);
    let (norm, whole) = normalise(&input, -16.0, input.len());
    // The limiter acts on this one (else the test would prove little).
    let gain = 10f64.powf(norm.gain_db() / 20.0) as f32;
    assert!(
        whole
            .left
            .iter()
            .zip(&input.left)
            .any(|(o, i)| (o - i * gain).abs() > 1e-3)
    );
    for block in [1, 1000, 4097] {
        let (_, out) = normalise(&input, -16.0, block);
        assert!(out == whole, "block size {block} changed the output");
    }
}

#[test]
fn streams_shorter_than_the_delay_come_out_whole_and_aligned() {
    let measured = Loudness {
        integrated_lufs: -30.0,
        true_peak_dbtp: -20.0,
        range_lu: 0.0,
    };
    for n in [0, 1, 7, 300, 1000] {
        for channels in [1, 2] {
            let left: Vec<f32> = (0..n).map(|i| 0.01 * (i % 17) as f32).collect();
            let right = if channels == 2 {
                left.iter().map(|s| -s).collect()
            } else {
                Vec::new()
            };
            let mut norm = Normalizer::new(48_000, channels, &measured, -23.0, CEILING);
            let gain = 10f64.powf(norm.gain_db() / 20.0) as f32;
            let (mut out_left, mut out_right) = (Vec::new(), Vec::new());
            norm.push(&left, &right, &mut out_left, &mut out_right);
            norm.finish(&mut out_left, &mut out_right);
            norm.finish(&mut out_left, &mut out_right);
            assert_eq!(out_left.len(), n);
            assert_eq!(out_right.len(), right.len());
            for (o, i) in out_left
                .iter()
                .zip(&left)
                .chain(out_right.iter().zip(&right))
            {
                assert!((o - i * gain).abs() <= 1e-6, "{n}: {o} != {i} × {gain}");
            }
        }
    }
}

#[test]
fn the_meter_reads_a_1_khz_sine_at_minus_23_dbfs_as_minus_23_lufs_in_mono_and_stereo() {
    // BS.1770 calibration: a 1 kHz sine at −23 dBFS on both loudspeakers is −23 LUFS; a mono
    // file counts as both loudspeakers (dual mono).
    let rate = 48_000;
    let left: Vec<f32> = (0..rate as usize * 5)
        .map(|i| {
            let t = i as f64 / f64::from(rate);
            (10f64.powf(-23.0 / 20.0) * (std::f64::consts::TAU * 1000.0 * t).sin()) as f32
        })
        .collect();
    for right in [Vec::new(), left.clone()] {
        let m = measure(&Audio {
            rate,
            left: left.clone(),
            right,
        });
        assert!((m.integrated_lufs + 23.0).abs() < 0.1, "{m:?}");
        assert!((m.true_peak_dbtp + 23.0).abs() < 0.1, "{m:?}");
        assert!(m.range_lu < 0.5, "{m:?}");
    }
}

#[test]
fn the_meter_refuses_unequal_planes_and_more_than_two_channels() {
    let mut meter = LoudnessMeter::new(44_100, 2).unwrap();
    assert!(meter.push(&[0.0; 10], &[0.0; 9]).is_err());
    assert!(LoudnessMeter::new(44_100, 3).is_err());
    assert!(LoudnessMeter::new(44_100, 0).is_err());
    assert!(matches!(
        LoudnessMeter::new(0, 2),
        Err(MediaError::BadSampleRate(0))
    ));
}
