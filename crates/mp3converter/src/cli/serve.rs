//! `mp3converter serve`: run the service.

use clap::Args;

use super::ConfigArgs;
use crate::config::Overrides;

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long)]
    listen: Option<String>,
    /// Roles to run: all, or a comma-separated list of auth, gateway, converter, notifier.
    #[arg(long)]
    roles: Option<String>,
}

impl ServeArgs {
    /// The `--roles` flag as given.
    pub fn roles(&self) -> Option<&str> {
        self.roles.as_deref()
    }
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = args.config.load_with(Overrides {
        listen: args.listen,
        roles: args.roles,
        data_dir: None,
    })?;
    let app = crate::app::Application::build(config).await?;
    println!("mp3converter listening on http://{}", app.local_addr());
    app.run_until_stopped(crate::shutdown::on_signal()).await
}
