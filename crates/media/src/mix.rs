//! Channel mixing: any layout down to stereo or mono, with standard (ITU-R BS.775) coefficients.

use symphonia::core::audio::{Channels, Position};

const MINUS_3DB: f32 = std::f32::consts::FRAC_1_SQRT_2;

/// A fixed mixing matrix from the decoded channels to 1 or 2 output channels.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Mixer {
    /// For each input channel, its weight in (left, right).
    weights: Vec<(f32, f32)>,
    out_channels: usize,
    identity: bool,
}

impl Mixer {
    /// Builds the matrix for `layout` (with `count` planes) into `out_channels` (1 or 2).
    pub fn new(layout: &Channels, count: usize, out_channels: usize) -> Self {
        let mut weights: Vec<(f32, f32)> = match layout {
            Channels::Positioned(pos) if pos.bits().count_ones() as usize == count => {
                pos.iter().map(weight_of).collect()
            }
            // Unlabelled channels: the first two are left and right, the rest go to both sides.
            _ => (0..count)
                .map(|i| match (count, i) {
                    (1, _) => (1.0, 1.0),
                    (_, 0) => (1.0, 0.0),
                    (_, 1) => (0.0, 1.0),
                    _ => (MINUS_3DB, MINUS_3DB),
                })
                .collect(),
        };
        // Normalise so a full-scale signal on every channel cannot clip (what ffmpeg does).
        let (sum_l, sum_r) = weights
            .iter()
            .fold((0.0, 0.0), |(l, r), (a, b)| (l + a, r + b));
        let norm = sum_l.max(sum_r).max(1.0);
        for w in &mut weights {
            w.0 /= norm;
            w.1 /= norm;
        }
        let identity = (count == out_channels && count <= 2)
            && (count == 1 || weights == [(1.0, 0.0), (0.0, 1.0)]);
        Mixer {
            weights,
            out_channels,
            identity,
        }
    }

    /// Output channel count.
    pub fn out_channels(&self) -> usize {
        self.out_channels
    }

    /// Mixes `input` planes into `left`/`right` (right stays empty for mono), replacing them.
    pub fn mix(&self, input: &[Vec<f32>], left: &mut Vec<f32>, right: &mut Vec<f32>) {
        left.clear();
        right.clear();
        let frames = input.first().map_or(0, Vec::len);
        if self.identity {
            left.extend_from_slice(&input[0]);
            if self.out_channels == 2 {
                right.extend_from_slice(&input[1]);
            }
            return;
        }
        left.resize(frames, 0.0);
        if self.out_channels == 2 {
            right.resize(frames, 0.0);
        }
        for (plane, &(wl, wr)) in input.iter().zip(&self.weights) {
            if self.out_channels == 1 {
                let w = (wl + wr) * 0.5;
                left.iter_mut().zip(plane).for_each(|(o, s)| *o += s * w);
            } else {
                left.iter_mut().zip(plane).for_each(|(o, s)| *o += s * wl);
                right.iter_mut().zip(plane).for_each(|(o, s)| *o += s * wr);
            }
        }
    }
}

fn weight_of(pos: Position) -> (f32, f32) {
    let left = Position::FRONT_LEFT;
    let right = Position::FRONT_RIGHT;
    let lefts = Position::REAR_LEFT
        | Position::SIDE_LEFT
        | Position::FRONT_LEFT_CENTER
        | Position::FRONT_LEFT_WIDE
        | Position::TOP_FRONT_LEFT
        | Position::TOP_REAR_LEFT;
    let rights = Position::REAR_RIGHT
        | Position::SIDE_RIGHT
        | Position::FRONT_RIGHT_CENTER
        | Position::FRONT_RIGHT_WIDE
        | Position::TOP_FRONT_RIGHT
        | Position::TOP_REAR_RIGHT;
    if pos == left {
        (1.0, 0.0)
    } else if pos == right {
        (0.0, 1.0)
    } else if pos.intersects(Position::LFE1 | Position::LFE2) {
        (0.0, 0.0)
    } else if lefts.contains(pos) {
        (MINUS_3DB, 0.0)
    } else if rights.contains(pos) {
        (0.0, MINUS_3DB)
    } else {
        (MINUS_3DB, MINUS_3DB)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planes(values: &[f32]) -> Vec<Vec<f32>> {
        values.iter().map(|&v| vec![v; 4]).collect()
    }

    #[test]
    fn stereo_passes_through_and_mono_averages() {
        let stereo = Channels::Positioned(Position::FRONT_LEFT | Position::FRONT_RIGHT);
        let (mut l, mut r) = (Vec::new(), Vec::new());
        Mixer::new(&stereo, 2, 2).mix(&planes(&[0.5, -0.25]), &mut l, &mut r);
        assert_eq!((l[0], r[0]), (0.5, -0.25));
        Mixer::new(&stereo, 2, 1).mix(&planes(&[0.5, -0.25]), &mut l, &mut r);
        assert!((l[0] - 0.125).abs() < 1e-6 && r.is_empty());
    }

    #[test]
    fn five_one_downmix_drops_lfe_and_does_not_clip() {
        let layout = Channels::Positioned(
            Position::FRONT_LEFT
                | Position::FRONT_RIGHT
                | Position::FRONT_CENTER
                | Position::LFE1
                | Position::SIDE_LEFT
                | Position::SIDE_RIGHT,
        );
        let m = Mixer::new(&layout, 6, 2);
        let (mut l, mut r) = (Vec::new(), Vec::new());
        m.mix(&planes(&[1.0, 1.0, 1.0, 1.0, 1.0, 1.0]), &mut l, &mut r);
        assert!(l[0] <= 1.0 + 1e-6 && l[0] > 0.99, "{}", l[0]);
        m.mix(&planes(&[0.0, 0.0, 0.0, 1.0, 0.0, 0.0]), &mut l, &mut r);
        assert_eq!((l[0], r[0]), (0.0, 0.0));
        m.mix(&planes(&[1.0, 0.0, 0.0, 0.0, 0.0, 0.0]), &mut l, &mut r);
        assert!(l[0] > 0.0 && r[0] == 0.0);
    }
}
