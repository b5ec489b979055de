//! Command-line parsing and dispatch. Each subcommand lives in its own module.

mod client;
mod convert;
mod healthcheck;
mod probe;
mod serve;
mod user;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::config::{self, Config, Overrides};
use crate::telemetry::Verbosity;

/// Self-hosted video-to-audio conversion.
#[derive(Debug, Parser)]
#[command(name = "mp3converter", version, about, propagate_version = true)]
pub struct Cli {
    /// Log what happens on stderr (-v: info, -vv: debug). `serve` logs at info without it;
    /// the other commands print only their result and warnings. MP3C_LOG overrides both.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the service (every role by default) and print the URL it listens on.
    Serve(serve::ServeArgs),
    /// Convert a video or audio file to MP3.
    Convert(convert::ConvertArgs),
    /// Describe a media file (JSON on stdout).
    Probe(probe::ProbeArgs),
    /// Manage accounts.
    User(user::UserArgs),
    /// Run the database migrations and exit.
    Migrate(ConfigArgs),
    /// Send a test email with the configured mail backend.
    SendTestEmail {
        /// Recipient.
        to: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// GET an http:// URL (a container health check): exit 0 on 2xx, 1 otherwise.
    Healthcheck(healthcheck::HealthcheckArgs),
    #[command(flatten)]
    Client(client::ClientCommand),
}

impl Cli {
    /// The `--roles` value of a `serve` command line, if it has one. The deployment tests parse
    /// the command lines in `deploy/` with [`clap::Parser::try_parse_from`] and check this.
    pub fn serve_roles(&self) -> Option<crate::config::Roles> {
        match &self.command {
            Command::Serve(args) => args.roles(),
            _ => None,
        }
    }
}

/// `--config` and `--data-dir`, shared by every command that reads the configuration.
#[derive(Debug, Clone, Args)]
pub struct ConfigArgs {
    /// A TOML configuration file (see mp3converter.example.toml).
    #[arg(long, env = "MP3C_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Where the embedded backends keep their files.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
}

impl ConfigArgs {
    fn load_with(&self, mut overrides: Overrides) -> anyhow::Result<Config> {
        overrides.data_dir = self.data_dir.clone();
        let (config, warnings) = config::load(self.config.as_deref(), &overrides)?;
        for w in warnings {
            tracing::warn!("{w}");
        }
        Ok(config)
    }

    fn load(&self) -> anyhow::Result<Config> {
        self.load_with(Overrides::default())
    }
}

/// Parses the process arguments and runs the chosen subcommand. Failures print one line on
/// stderr and exit non-zero.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let verbosity = match (cli.verbose, &cli.command) {
        (0, Command::Serve(_)) | (1, _) => Verbosity::Info,
        (0, _) => Verbosity::Quiet,
        _ => Verbosity::Debug,
    };
    crate::telemetry::init_logging(verbosity);
    let result = match cli.command {
        Command::Convert(args) => convert::run(args),
        Command::Probe(args) => probe::run(args),
        Command::Healthcheck(args) => healthcheck::run(args),
        Command::Serve(args) => block_on(serve::run(args)),
        Command::User(args) => block_on(user::run(args)),
        Command::Client(command) => block_on(client::run(command)),
        Command::Migrate(args) => block_on(async move {
            let config = args.load()?;
            let db = crate::backends::database(&Config {
                database: config::DatabaseConfig {
                    migrate: true,
                    ..config.database.clone()
                },
                ..config
            })
            .await?;
            db.close().await;
            println!("migrations applied");
            Ok(())
        }),
        Command::SendTestEmail { to, config } => block_on(async move {
            let config = config.load()?;
            let mailer = mp3converter_mail::build(&config.mail).context("cannot set up mail")?;
            mailer
                .send(&mp3converter_mail::test_email(&to))
                .await
                .context("the test email was not sent")?;
            println!(
                "test email sent to {to} via the {:?} backend",
                config.mail.backend
            );
            Ok(())
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mp3converter: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn block_on<F: std::future::Future<Output = anyhow::Result<()>>>(f: F) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(f)
}
