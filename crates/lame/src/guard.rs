//! Keeps samples that would abort the process away from LAME. LAME 3.100 is built with its C
//! `assert`s on, and they fire on input no real audio produces: a NaN or an infinity
//! (`calc_energy: el >= 0`) or magnitudes around 10⁶ (`CBR_iteration_loop: part2_3_length <=
//! MAX_BITS_PER_CHANNEL`). An `abort()` cannot be caught, so a damaged upload whose decoder
//! emitted such values would take the whole service down (found by fuzzing the engine).

/// Largest magnitude handed to LAME: +12 dBFS, far above what a decoder makes of real audio
/// (overs of a few dB at most) and far below what breaks LAME (≈ +60 dBFS and up).
pub(crate) const MAX_SAMPLE: f32 = 4.0;

/// `samples` itself when every value is finite and within ±[`MAX_SAMPLE`] (the normal case,
/// one vectorisable pass), else a copy in `scratch` with NaN as silence and the rest clamped.
pub(crate) fn safe<'a>(samples: &'a [f32], scratch: &'a mut Vec<f32>) -> &'a [f32] {
    // `x <= MAX` is false for NaN, so NaN takes the slow path too.
    if samples.iter().all(|v| v.abs() <= MAX_SAMPLE) {
        return samples;
    }
    scratch.clear();
    scratch.extend(samples.iter().map(|&v| {
        if v.is_nan() {
            0.0
        } else {
            v.clamp(-MAX_SAMPLE, MAX_SAMPLE)
        }
    }));
    scratch
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_audio_passes_untouched_and_the_rest_is_clamped() {
        let normal = [0.0, 0.5, -1.0, 1.3, -3.9];
        let mut scratch = Vec::new();
        assert!(std::ptr::eq(safe(&normal, &mut scratch), &normal[..]));
        let bad = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1e6, -7.0, 0.25];
        assert_eq!(safe(&bad, &mut scratch), &[0.0, 4.0, -4.0, 4.0, -4.0, 0.25]);
    }
}
