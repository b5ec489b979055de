//! `mp3converter user add|list|passwd|disable|enable`: manage accounts from the command line.

use std::io::{BufRead, IsTerminal};

use anyhow::Context;
use clap::{Args, Subcommand};
use mp3converter_auth::AuthService;
use mp3converter_core::Role;

use super::ConfigArgs;

#[derive(Debug, Args)]
pub struct UserArgs {
    #[command(flatten)]
    config: ConfigArgs,
    #[command(subcommand)]
    command: UserCommand,
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create an account (the password is read from stdin when it is not a terminal).
    Add {
        /// The account's email.
        email: String,
        /// Make it an administrator.
        #[arg(long)]
        admin: bool,
    },
    /// List accounts.
    List,
    /// Set an account's password.
    Passwd {
        /// The account's email.
        email: String,
    },
    /// Disable an account (it can no longer log in).
    Disable {
        /// The account's email.
        email: String,
    },
    /// Enable a disabled account again (it can log in again).
    Enable {
        /// The account's email.
        email: String,
    },
}

pub async fn run(args: UserArgs) -> anyhow::Result<()> {
    let config = args.config.load()?;
    let db = crate::backends::database(&config).await?;
    let auth =
        AuthService::new(db, config.auth.clone()).context("cannot start the auth service")?;
    match args.command {
        UserCommand::Add { email, admin } => {
            let password = read_password("Password for the new account: ")?;
            let role = if admin { Role::Admin } else { Role::User };
            let user = auth.create_user(&email, &password, role).await?;
            println!(
                "created {} ({})",
                user.email,
                if admin { "admin" } else { "user" }
            );
        }
        UserCommand::List => {
            for u in auth.list_users().await? {
                let role = if u.role == Role::Admin {
                    "admin"
                } else {
                    "user"
                };
                let state = if u.disabled { "disabled" } else { "active" };
                println!("{}\t{role}\t{state}\t{}", u.email, u.id);
            }
        }
        UserCommand::Passwd { email } => {
            let password = read_password(&format!("New password for {email}: "))?;
            auth.set_password(&email, &password).await?;
            println!("password changed for {email}");
        }
        UserCommand::Disable { email } => {
            let user = auth.disable_user(&email).await?;
            println!("disabled {}", user.email);
        }
        UserCommand::Enable { email } => {
            let user = auth.enable_user(&email).await?;
            println!("enabled {}", user.email);
        }
    }
    Ok(())
}

/// Reads one line: from stdin as is when it is not a terminal (scripts), else after a prompt.
fn read_password(prompt: &str) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        let password = rpassword::prompt_password(prompt).context("cannot read the password")?;
        anyhow::ensure!(!password.is_empty(), "no password given");
        return Ok(password);
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .context("cannot read the password")?;
    let password = line.trim_end_matches(['\n', '\r']).to_string();
    anyhow::ensure!(!password.is_empty(), "no password given");
    Ok(password)
}
