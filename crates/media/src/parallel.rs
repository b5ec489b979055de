//! Chunk-parallel encoding: long inputs are cut into fixed chunks encoded on several threads.
//!
//! An MP3 encoder carries state from frame to frame (the bit reservoir, the psychoacoustic
//! model, the MDCT overlap, the padding-bit cadence), so naive chunking clicks at the joins.
//! What makes the joins seamless:
//!
//! * chunk boundaries sit on the frame grid (whole frames of samples per channel);
//! * the bit reservoir is disabled, so no frame borrows bits from its neighbour;
//! * each chunk encoder starts a few frames early (the *pre-roll*) and those frames are thrown
//!   away: by the first kept frame its state matches a one-pass encoder's. The pre-roll and the
//!   chunk length are multiples of the padding-bit period (49 frames at 44.1 kHz), so the padding
//!   cadence lines up too, and the joined stream is byte-identical to a one-pass encode with the
//!   same settings (a unit test checks this);
//! * each encoder also reads a few frames past its chunk so its last kept frame has the same
//!   look-ahead as in one pass.
//!
//! PCM is handed out as it arrives (a streaming chunker): memory is bounded by the chunk length
//! times the number of chunks in flight, not by the input length. Encoded chunks are written in
//! order, and one info frame with the totals is written at the end.

use std::collections::BTreeMap;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use mp3converter_lame::{Encoder, Mode, Settings};

use crate::MediaError;
use crate::mp3out::{self, Mp3Writer};
use crate::sink::{Sink, Written, lame_error};

/// Frames each chunk encoder reads past its chunk (look-ahead).
pub(crate) const TAIL_FRAMES: u64 = 4;
/// Smallest pre-roll that settles the encoder state.
const MIN_PREROLL_FRAMES: u64 = 4;

/// Where chunks fall on the frame grid: shared by [`ParallelSink`] (threads of one process) and
/// the distributed chunks (`chunks/`), so both cut the stream at exactly the same samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChunkGrid {
    /// Samples per channel in one MP3 frame.
    pub spf: u64,
    /// Frames kept from each chunk but the last (a multiple of the padding period).
    pub chunk_frames: u64,
    /// Frames encoded before each chunk and thrown away (a multiple of the padding period).
    pub preroll_frames: u64,
}

impl ChunkGrid {
    /// The grid for `settings` (reservoir-free) with chunks of about `chunk_secs`.
    pub fn new(settings: &Settings, spf: u64, chunk_secs: f64) -> Self {
        let period = padding_period(settings, spf);
        let round_up = |frames: u64| frames.div_ceil(period).max(1) * period;
        ChunkGrid {
            spf,
            preroll_frames: round_up(MIN_PREROLL_FRAMES),
            chunk_frames: round_up(
                ((chunk_secs.max(1.0) * f64::from(settings.sample_rate)) / spf as f64) as u64,
            ),
        }
    }

    /// True when `chunk_frames` and `preroll_frames` are what the padding cadence needs (a
    /// grid read back from storage is checked with this).
    pub fn is_aligned(&self, settings: &Settings) -> bool {
        let period = padding_period(settings, self.spf);
        self.chunk_frames > 0
            && self.chunk_frames.is_multiple_of(period)
            && self.preroll_frames == MIN_PREROLL_FRAMES.div_ceil(period).max(1) * period
    }

    /// First sample (absolute) chunk `k` feeds its encoder, and the frames it discards.
    pub fn chunk_start(&self, k: u64) -> (u64, u64) {
        let first_frame = k * self.chunk_frames;
        let preroll = self.preroll_frames.min(first_frame);
        ((first_frame - preroll) * self.spf, preroll)
    }

    /// First sample chunk `k` keeps.
    pub fn kept_start(&self, k: u64) -> u64 {
        k * self.chunk_frames * self.spf
    }

    /// The sample after the last one chunk `k` feeds its encoder when it is not the last chunk
    /// (its kept frames plus the look-ahead). A stream of `total` samples has a chunk `k + 1`
    /// exactly when `total >= chunk_end(k)`.
    pub fn chunk_end(&self, k: u64) -> u64 {
        ((k + 1) * self.chunk_frames + TAIL_FRAMES) * self.spf
    }
}

/// Frames per channel and encoder delay of LAME with `settings`.
pub(crate) fn encoder_shape(settings: &Settings) -> Result<(u64, u32), MediaError> {
    let probe = Encoder::new(settings).map_err(lame_error)?;
    Ok((probe.frame_size() as u64, probe.encoder_delay()))
}

struct Job {
    index: u64,
    left: Vec<f32>,
    right: Vec<f32>,
    discard: usize,
    keep: Option<usize>,
}

type Done = (u64, Result<Vec<u8>, MediaError>);

/// A [`Sink`] that encodes chunks on worker threads and writes them in order.
pub(crate) struct ParallelSink {
    writer: Option<Mp3Writer>,
    stereo: bool,
    grid: ChunkGrid,
    history: [Vec<f32>; 2],
    history_start: u64,
    total: u64,
    next_chunk: u64,
    jobs: Option<SyncSender<Job>>,
    results: Receiver<Done>,
    workers: Vec<JoinHandle<()>>,
    in_flight: usize,
    max_in_flight: usize,
    ready: BTreeMap<u64, Vec<u8>>,
    next_write: u64,
    delay: u32,
}

impl std::fmt::Debug for ParallelSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParallelSink")
            .field("grid", &self.grid)
            .field("workers", &self.workers.len())
            .finish()
    }
}

/// Frames after which LAME's padding-bit cadence repeats for these settings (1 when no frame is
/// ever padded, e.g. at 48 kHz).
pub fn padding_period(settings: &Settings, samples_per_frame: u64) -> u64 {
    let kbps = match settings.mode {
        Mode::Cbr(kbps) => u64::from(kbps),
        // VBR frames do not use the cadence, but staying aligned costs little.
        Mode::Vbr(_) => 128,
    };
    let rate = u64::from(settings.sample_rate);
    let bytes_num = samples_per_frame / 8 * kbps * 1000;
    let frac = bytes_num % rate;
    if frac == 0 { 1 } else { rate / gcd(frac, rate) }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

impl ParallelSink {
    /// Starts `threads` chunk encoders with reservoir-free `settings`; chunks are about
    /// `chunk_secs` long.
    pub fn new(
        settings: Settings,
        writer: Mp3Writer,
        threads: usize,
        chunk_secs: f64,
    ) -> Result<Self, MediaError> {
        let (spf, delay) = encoder_shape(&settings)?;
        let grid = ChunkGrid::new(&settings, spf, chunk_secs);

        let threads = threads.max(1);
        let (job_tx, job_rx) = sync_channel::<Job>(threads);
        let (done_tx, done_rx) = sync_channel::<Done>(threads * 2);
        let job_rx = std::sync::Arc::new(std::sync::Mutex::new(job_rx));
        let workers = (0..threads)
            .map(|i| {
                let (jobs, done, settings) = (job_rx.clone(), done_tx.clone(), settings.clone());
                std::thread::Builder::new()
                    .name(format!("mp3-chunk-{i}"))
                    .spawn(move || worker(&jobs, &done, &settings))
                    .map_err(MediaError::Io)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ParallelSink {
            writer: Some(writer),
            stereo: settings.channels == 2,
            grid,
            history: [Vec::new(), Vec::new()],
            history_start: 0,
            total: 0,
            next_chunk: 0,
            jobs: Some(job_tx),
            results: done_rx,
            workers,
            in_flight: 0,
            max_in_flight: threads + 1,
            ready: BTreeMap::new(),
            next_write: 0,
            delay,
        })
    }

    fn dispatch(&mut self, k: u64, end: u64, last: bool) -> Result<(), MediaError> {
        while self.in_flight >= self.max_in_flight {
            self.collect_one()?;
        }
        let (start, discard) = self.grid.chunk_start(k);
        let from = (start - self.history_start) as usize;
        let to = (end - self.history_start) as usize;
        let right = if self.stereo {
            self.history[1][from..to].to_vec()
        } else {
            Vec::new()
        };
        let job = Job {
            index: k,
            left: self.history[0][from..to].to_vec(),
            right,
            discard: discard as usize,
            keep: (!last).then_some(self.grid.chunk_frames as usize),
        };
        self.jobs
            .as_ref()
            .ok_or_else(worker_gone)?
            .send(job)
            .map_err(|_| worker_gone())?;
        self.in_flight += 1;
        // Keep only what the next chunk needs (its pre-roll onwards).
        let (next_start, _) = self.grid.chunk_start(k + 1);
        let drop = next_start.saturating_sub(self.history_start) as usize;
        for h in &mut self.history {
            h.drain(..drop.min(h.len()));
        }
        self.history_start += drop as u64;
        Ok(())
    }

    fn collect_one(&mut self) -> Result<(), MediaError> {
        let (index, result) = self.results.recv().map_err(|_| worker_gone())?;
        self.in_flight -= 1;
        self.ready.insert(index, result?);
        while let Some(bytes) = self.ready.remove(&self.next_write) {
            self.writer
                .as_mut()
                .ok_or_else(worker_gone)?
                .write(&bytes)?;
            self.next_write += 1;
        }
        Ok(())
    }
}

fn worker_gone() -> MediaError {
    MediaError::Encoder("a chunk encoder thread stopped unexpectedly".into())
}

fn worker(jobs: &std::sync::Mutex<Receiver<Job>>, done: &SyncSender<Done>, settings: &Settings) {
    loop {
        let job = match jobs.lock() {
            Ok(rx) => match rx.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
            Err(_) => return,
        };
        let result = encode_pcm_chunk(settings, &job.left, &job.right, job.discard, job.keep);
        if done.send((job.index, result)).is_err() {
            return;
        }
    }
}

/// Encodes one chunk's PCM (pre-roll, chunk, look-ahead) with a fresh reservoir-free encoder
/// and keeps frames `discard..discard + keep` (all after `discard` if `keep` is `None`, for the
/// last chunk, which is flushed).
pub(crate) fn encode_pcm_chunk(
    settings: &Settings,
    left: &[f32],
    right: &[f32],
    discard: usize,
    keep: Option<usize>,
) -> Result<Vec<u8>, MediaError> {
    let mut encoder = Encoder::new(settings).map_err(lame_error)?;
    let mut out = Vec::with_capacity(left.len() / 2);
    encoder.encode(left, right, &mut out).map_err(lame_error)?;
    encoder.flush(&mut out).map_err(lame_error)?;
    let mut start = 0;
    let mut end = 0;
    for (i, (_, frame)) in mp3out::frames(&out).enumerate() {
        if i < discard {
            start += frame.len();
        } else if keep.is_some_and(|k| i >= discard + k) {
            break;
        }
        end += frame.len();
    }
    out.truncate(end);
    out.drain(..start);
    Ok(out)
}

impl Sink for ParallelSink {
    fn push(&mut self, left: &[f32], right: &[f32]) -> Result<(), MediaError> {
        self.history[0].extend_from_slice(left);
        if self.stereo {
            self.history[1].extend_from_slice(right);
        }
        self.total += left.len() as u64;
        loop {
            let k = self.next_chunk;
            let end = self.grid.chunk_end(k);
            if self.total < end {
                return Ok(());
            }
            self.dispatch(k, end, false)?;
            self.next_chunk += 1;
        }
    }

    fn finish(mut self: Box<Self>) -> Result<Written, MediaError> {
        let k = self.next_chunk;
        self.dispatch(k, self.total, true)?;
        while self.in_flight > 0 {
            self.collect_one()?;
        }
        self.jobs = None;
        for w in std::mem::take(&mut self.workers) {
            w.join().map_err(|_| worker_gone())?;
        }
        let writer = self.writer.take().ok_or_else(worker_gone)?;
        writer.finish(self.delay, self.total)
    }
}

impl Drop for ParallelSink {
    fn drop(&mut self) {
        // Closing the job channel ends the workers; results still in the channel are dropped.
        self.jobs = None;
        while self.results.try_recv().is_ok() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mp3out::InfoKind;
    use crate::output::mp3::SingleSink;

    /// Tone plus deterministic noise, with loudness changes, so the psychoacoustic model works.
    fn signal(frames: usize, rate: u32) -> (Vec<f32>, Vec<f32>) {
        let mut seed = 0x1234_5678u32;
        let mut noise = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            (seed as f32 / u32::MAX as f32) * 2.0 - 1.0
        };
        let t = |i: usize| i as f32 / rate as f32;
        let l = (0..frames)
            .map(|i| {
                0.4 * (t(i) * 440.0 * std::f32::consts::TAU).sin() * (1.0 + (t(i) * 0.7).sin())
                    / 2.0
                    + 0.05 * noise()
            })
            .collect();
        let r = (0..frames)
            .map(|i| 0.3 * (t(i) * 660.0 * std::f32::consts::TAU).sin() + 0.05 * noise())
            .collect();
        (l, r)
    }

    fn encode(sink: Box<dyn Sink>, l: &[f32], r: &[f32]) -> Written {
        let mut sink = sink;
        for (a, b) in l.chunks(4000).zip(r.chunks(4000)) {
            sink.push(a, b).unwrap();
        }
        sink.finish().unwrap()
    }

    fn compare(rate: u32, mode: Mode) {
        let dir = tempfile::tempdir().unwrap();
        let (l, r) = signal(rate as usize * 25 + 777, rate);
        let kind = match mode {
            Mode::Cbr(k) => InfoKind::Cbr(k),
            Mode::Vbr(_) => InfoKind::Vbr,
        };
        let settings = Settings {
            disable_reservoir: true,
            ..Settings::new(rate, 2, mode)
        };
        let one = dir.path().join("one.mp3");
        let par = dir.path().join("par.mp3");
        let w1 = encode(
            Box::new(
                SingleSink::new(&settings, Mp3Writer::create(&one, &[], kind).unwrap()).unwrap(),
            ),
            &l,
            &r,
        );
        let sink = ParallelSink::new(
            settings,
            Mp3Writer::create(&par, &[], kind).unwrap(),
            3,
            4.0,
        )
        .unwrap();
        let chunk_frames = sink.grid.chunk_frames;
        let w2 = encode(Box::new(sink), &l, &r);
        assert!(
            w2.frames as u64 > chunk_frames * 4,
            "the test must span several joins"
        );
        assert_eq!(w1.frames, w2.frames);
        let (a, b) = (std::fs::read(one).unwrap(), std::fs::read(par).unwrap());
        assert_eq!(a.len(), b.len());
        let first_diff = a.iter().zip(&b).position(|(x, y)| x != y);
        assert_eq!(
            first_diff, None,
            "parallel output differs from one pass at byte {first_diff:?}"
        );
    }

    #[test]
    fn parallel_cbr_at_44_1_khz_is_byte_identical_to_one_pass() {
        compare(44_100, Mode::Cbr(192));
    }

    #[test]
    fn parallel_cbr_at_48_khz_is_byte_identical_to_one_pass() {
        compare(48_000, Mode::Cbr(128));
    }

    #[test]
    fn padding_period_is_49_frames_at_44_1_khz() {
        assert_eq!(
            padding_period(&Settings::new(44_100, 2, Mode::Cbr(192)), 1152),
            49
        );
        assert_eq!(
            padding_period(&Settings::new(48_000, 2, Mode::Cbr(192)), 1152),
            1
        );
    }
}
