//! Sample-rate conversion with rubato, used only when the encoder cannot take the source rate
//! (a rate MP3 cannot carry) or the user asked for another one.

use rubato::{FftFixedIn, Resampler};

use crate::MediaError;

/// Input frames per resampler call.
const CHUNK: usize = 1024;

/// A streaming resampler for 1 or 2 planar channels that compensates its own delay, so output
/// sample `n` lines up with input time `n / out_rate`.
pub(crate) struct Resample {
    inner: FftFixedIn<f32>,
    pending: Vec<Vec<f32>>,
    to_drop: usize,
    consumed: u64,
    produced: u64,
    in_rate: u32,
    out_rate: u32,
}

impl std::fmt::Debug for Resample {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resample")
            .field("in_rate", &self.in_rate)
            .field("out_rate", &self.out_rate)
            .finish()
    }
}

impl Resample {
    /// A resampler from `in_rate` to `out_rate` for `channels` planes.
    pub fn new(in_rate: u32, out_rate: u32, channels: usize) -> Result<Self, MediaError> {
        let inner = FftFixedIn::new(in_rate as usize, out_rate as usize, CHUNK, 2, channels)
            .map_err(|e| MediaError::Encoder(format!("resampler: {e}")))?;
        let to_drop = inner.output_delay();
        Ok(Resample {
            inner,
            pending: vec![Vec::with_capacity(CHUNK * 2); channels],
            to_drop,
            consumed: 0,
            produced: 0,
            in_rate,
            out_rate,
        })
    }

    /// Feeds planar input; appends finished output to `out` (one `Vec` per channel).
    pub fn push(&mut self, input: &[&[f32]], out: &mut [Vec<f32>]) -> Result<(), MediaError> {
        for (p, i) in self.pending.iter_mut().zip(input) {
            p.extend_from_slice(i);
        }
        self.consumed += input.first().map_or(0, |p| p.len()) as u64;
        while self.pending[0].len() >= CHUNK {
            let chunk: Vec<&[f32]> = self.pending.iter().map(|p| &p[..CHUNK]).collect();
            let res = self
                .inner
                .process(&chunk, None)
                .map_err(|e| MediaError::Encoder(format!("resampler: {e}")))?;
            self.emit(res, out, None);
            for p in &mut self.pending {
                p.drain(..CHUNK);
            }
        }
        Ok(())
    }

    /// Flushes the tail so the output holds exactly `consumed × out_rate / in_rate` frames.
    pub fn finish(&mut self, out: &mut [Vec<f32>]) -> Result<(), MediaError> {
        let expected = (u128::from(self.consumed) * u128::from(self.out_rate)
            / u128::from(self.in_rate)) as u64;
        let mut rounds = 0;
        while self.produced < expected && rounds < 64 {
            let chunk: Vec<&[f32]> = self.pending.iter().map(|p| p.as_slice()).collect();
            let input = (!chunk[0].is_empty()).then_some(chunk.as_slice());
            let res = self
                .inner
                .process_partial(input, None)
                .map_err(|e| MediaError::Encoder(format!("resampler: {e}")))?;
            for p in &mut self.pending {
                p.clear();
            }
            self.emit(res, out, Some(expected));
            rounds += 1;
        }
        Ok(())
    }

    fn emit(&mut self, res: Vec<Vec<f32>>, out: &mut [Vec<f32>], limit: Option<u64>) {
        let n = res.first().map_or(0, Vec::len);
        let drop = self.to_drop.min(n);
        self.to_drop -= drop;
        let mut keep = n - drop;
        if let Some(limit) = limit {
            keep = keep.min(limit.saturating_sub(self.produced) as usize);
        }
        for (o, r) in out.iter_mut().zip(&res) {
            o.extend_from_slice(&r[drop..drop + keep]);
        }
        self.produced += keep as u64;
    }
}

/// The rate the encoder gets for a source at `rate`: the same when MP3 can carry it, else the
/// nearest MP3 rate (never upsampling past what the source holds, except below 8 kHz).
pub(crate) fn encoder_rate(rate: u32) -> u32 {
    let rates = mp3converter_core::MP3_SAMPLE_RATES;
    if rates.contains(&rate) {
        return rate;
    }
    rates
        .iter()
        .rev()
        .copied()
        .find(|&r| r <= rate)
        .unwrap_or(rates[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_nearest_lower_mp3_rate() {
        assert_eq!(encoder_rate(44_100), 44_100);
        assert_eq!(encoder_rate(96_000), 48_000);
        assert_eq!(encoder_rate(88_200), 48_000);
        assert_eq!(encoder_rate(37_800), 32_000);
        assert_eq!(encoder_rate(6_000), 8_000);
    }

    #[test]
    fn output_length_matches_the_rate_ratio_and_keeps_the_tone() {
        let (inr, outr) = (96_000u32, 48_000u32);
        let input: Vec<f32> = (0..96_123)
            .map(|i| (i as f32 * 1000.0 * std::f32::consts::TAU / inr as f32).sin())
            .collect();
        let mut r = Resample::new(inr, outr, 1).unwrap();
        let mut out = vec![Vec::new()];
        for block in input.chunks(777) {
            r.push(&[block], &mut out).unwrap();
        }
        r.finish(&mut out).unwrap();
        assert_eq!(out[0].len(), 96_123 / 2);
        // Delay compensated: the 1 kHz sine lines up with the ideal one in the middle.
        let err: f32 = (10_000..10_100)
            .map(|i| {
                (out[0][i] - (i as f32 * 1000.0 * std::f32::consts::TAU / outr as f32).sin()).abs()
            })
            .fold(0.0, f32::max);
        assert!(err < 0.05, "max error {err}");
    }
}
