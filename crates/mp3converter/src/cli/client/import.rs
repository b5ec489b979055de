//! `mp3converter import URL [--wait [-o DIR]] [options]`: the server downloads the file at URL
//! (`POST /api/v1/jobs` with a JSON body) and converts it; with `--wait`, follow the job's
//! live events (downloading, then converting) and download the MP3.

use clap::Args;

use super::download::{self, Target};
use super::progress::Progress;
use super::upload::{WaitArgs, prepare, wait};
use crate::cli::convert::OptionArgs;

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The http or https URL of the video or audio file (the server fetches it).
    #[arg(value_name = "URL")]
    url: String,
    #[command(flatten)]
    wait: WaitArgs,
    #[command(flatten)]
    conversion: OptionArgs,
}

pub async fn run(args: ImportArgs) -> anyhow::Result<()> {
    let (options, api) = prepare(&args.conversion)?;
    let out_dir = args.wait.out_dir()?;
    let job = api.import_job(&args.url, &options).await?;
    if !args.wait.wait {
        println!("{}", job.id);
        return Ok(());
    }
    let progress = Progress::new();
    let name = job.original_name.clone();
    progress.line(format!("{}: importing as job {}", args.url, job.id));
    wait(&api, &progress, &name, &job.id).await?;
    let path = download::fetch(&api, &job.id, &Target::Dir(out_dir), &progress).await?;
    println!("{}", path.display());
    Ok(())
}
