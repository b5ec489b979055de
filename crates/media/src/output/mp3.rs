//! MP3 output: LAME, one pass or chunk-parallel, into an [`Mp3Writer`].

use mp3converter_lame::{Encoder, Mode, Settings};

use super::{Opened, Target};
use crate::mp3out::{InfoKind, Mp3Writer};
use crate::parallel::ParallelSink;
use crate::sink::{Sink, Written, lame_error};
use crate::{ConvertOptions, Encoding, EngineConfig, MediaError};

/// LAME settings for the options at `rate` and `channels`.
pub(crate) fn lame_settings(
    options: &ConvertOptions,
    rate: u32,
    channels: u8,
    disable_reservoir: bool,
) -> Settings {
    let mode = match options.encoding() {
        Encoding::Cbr(kbps) => Mode::Cbr(kbps),
        Encoding::Vbr(q) => Mode::Vbr(q),
    };
    Settings {
        disable_reservoir,
        ..Settings::new(rate, channels, mode)
    }
}

/// The info-frame flavour for the options.
pub(crate) fn info_kind(options: &ConvertOptions) -> InfoKind {
    match options.encoding() {
        Encoding::Cbr(kbps) => InfoKind::Cbr(kbps),
        Encoding::Vbr(_) => InfoKind::Vbr,
    }
}

/// One LAME encoder, or chunk encoders on the configured threads when the input is long.
pub(super) fn open(target: &Target<'_>, config: &EngineConfig) -> Result<Opened, MediaError> {
    let writer = Mp3Writer::create(
        target.path,
        &super::tags::id3_tag(target.tagging, "LAME 3.100")?,
        info_kind(target.options),
    )?;
    let threads = config.effective_threads();
    if threads > 1 && target.long_enough {
        let settings = lame_settings(target.options, target.rate, target.channels, true);
        let sink = ParallelSink::new(settings, writer, threads, config.chunk_secs)?;
        return Ok(Opened {
            sink: Box::new(sink),
            threads,
        });
    }
    let settings = lame_settings(target.options, target.rate, target.channels, false);
    Ok(Opened {
        sink: Box::new(SingleSink::new(&settings, writer)?),
        threads: 1,
    })
}

/// One LAME encoder writing straight into the file.
pub(crate) struct SingleSink {
    encoder: Encoder,
    writer: Mp3Writer,
    buf: Vec<u8>,
    samples: u64,
}

impl SingleSink {
    pub fn new(settings: &Settings, writer: Mp3Writer) -> Result<Self, MediaError> {
        Ok(SingleSink {
            encoder: Encoder::new(settings).map_err(lame_error)?,
            writer,
            buf: Vec::new(),
            samples: 0,
        })
    }
}

impl Sink for SingleSink {
    fn push(&mut self, left: &[f32], right: &[f32]) -> Result<(), MediaError> {
        self.buf.clear();
        self.encoder
            .encode(left, right, &mut self.buf)
            .map_err(lame_error)?;
        self.samples += left.len() as u64;
        self.writer.write(&self.buf)
    }

    fn finish(mut self: Box<Self>) -> Result<Written, MediaError> {
        self.buf.clear();
        self.encoder.flush(&mut self.buf).map_err(lame_error)?;
        self.writer.write(&self.buf)?;
        self.writer
            .finish(self.encoder.encoder_delay(), self.samples)
    }
}
