//! `mp3converter probe IN`: JSON description of a media file.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use mp3converter_media::{EngineChoice, EngineConfig};

#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// The file to describe.
    input: PathBuf,
    /// Which engine the reported route assumes.
    #[arg(long, default_value = "auto")]
    engine: EngineChoice,
}

pub fn run(args: ProbeArgs) -> anyhow::Result<()> {
    let config = EngineConfig {
        engine: args.engine,
        ..EngineConfig::default()
    };
    let report = mp3converter_media::probe(&args.input, &config)
        .with_context(|| format!("cannot probe {}", args.input.display()))?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
