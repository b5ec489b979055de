//! The command-line client of a running server: `login`, `upload`, `import`, `jobs`, `download`,
//! `keys`, `webhooks`, `share`, `feed`, `logout`.
//! It speaks the `/api/v1` HTTP API with the token `login` stored, or with the API key in
//! `MP3CONVERTER_API_KEY` when that is set; failures end the command with one line saying what
//! to do.

mod api;
mod audio;
mod download;
mod import;
mod jobs;
mod keys;
mod login;
mod progress;
mod session;
mod share;
mod sse;
mod upload;
mod webhooks;

use clap::Subcommand;

/// The client's subcommands (flattened into the top level: `mp3converter login`, ...).
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Log in to a server and remember the session.
    ///
    /// The email and password are asked for; without a terminal they are read from stdin as two
    /// lines.
    Login(login::LoginArgs),
    /// Upload videos for conversion; with --wait, download the MP3s when they are ready.
    Upload(upload::UploadArgs),
    /// Have the server fetch a video from an http(s) URL and convert it; with --wait, download
    /// the MP3 when it is ready.
    Import(import::ImportArgs),
    /// List your jobs on the server, newest first.
    Jobs(jobs::JobsArgs),
    /// Download the MP3 of a finished job.
    Download(download::DownloadArgs),
    /// Create, list and revoke API keys (for scripts: set MP3CONVERTER_API_KEY instead of
    /// logging in).
    Keys(keys::KeysArgs),
    /// Manage your webhooks (signed callbacks when a job is done or failed).
    #[command(subcommand)]
    Webhooks(webhooks::WebhooksCommand),
    /// Make a public link to a finished job's audio (or list or revoke its links).
    Share(share::ShareArgs),
    /// Print the address of your private podcast feed (or make a new one with --rotate).
    Feed(share::FeedArgs),
    /// Forget the stored token.
    Logout,
}

/// Runs a client subcommand.
pub async fn run(command: ClientCommand) -> anyhow::Result<()> {
    match command {
        ClientCommand::Login(args) => login::login(args).await,
        ClientCommand::Upload(args) => interruptible(upload::run(args)).await,
        ClientCommand::Import(args) => interruptible(import::run(args)).await,
        ClientCommand::Jobs(args) => jobs::run(args).await,
        ClientCommand::Download(args) => interruptible(download::run(args)).await,
        ClientCommand::Keys(args) => keys::run(args).await,
        ClientCommand::Webhooks(command) => webhooks::run(command).await,
        ClientCommand::Share(args) => share::share(args).await,
        ClientCommand::Feed(args) => share::feed(args).await,
        ClientCommand::Logout => login::logout(),
    }
}

/// Runs `work` until Ctrl-C, which drops it: half-written downloads are removed on the way out.
async fn interruptible(work: impl Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    tokio::select! {
        result = work => result,
        _ = tokio::signal::ctrl_c() => anyhow::bail!("interrupted"),
    }
}
