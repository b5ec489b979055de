//! `mp3converter serve`: run the service.

use clap::Args;

use super::ConfigArgs;
use crate::config::{Overrides, Roles};

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long)]
    listen: Option<String>,
    /// Roles to run: all, or a comma-separated list of auth, gateway, converter, notifier.
    #[arg(long)]
    roles: Option<Roles>,
}

impl ServeArgs {
    /// The `--roles` flag, parsed (an unknown role fails at the command line).
    pub fn roles(&self) -> Option<Roles> {
        self.roles
    }
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = args.config.load_with(Overrides {
        listen: args.listen,
        roles: args.roles.map(|r| r.to_string()),
        data_dir: None,
    })?;
    let app = crate::app::Application::build(config).await?;
    println!("mp3converter listening on http://{}", app.local_addr());
    app.run_until_stopped(crate::shutdown::on_signal()).await
}
