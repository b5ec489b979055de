//! `mp3converter user add|list|passwd|disable|enable|quota`: manage accounts from the command
//! line.

use std::io::{BufRead, IsTerminal};

use anyhow::Context;
use clap::{Args, Subcommand};
use mp3converter_auth::AuthService;
use mp3converter_core::Role;
use mp3converter_db::QuotaOverrides;

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
    /// Show an account's quota overrides and usage; with options, set overrides first (0: no
    /// limit; unset ones keep their value, `--reset` goes back to the `[quotas]` defaults).
    Quota {
        /// The account's email.
        email: String,
        /// Bytes of videos and audio the account may keep stored.
        #[arg(long)]
        storage_bytes: Option<u64>,
        /// Jobs the account may create per UTC day.
        #[arg(long)]
        jobs_per_day: Option<u64>,
        /// Jobs the account may have in progress at once.
        #[arg(long)]
        concurrent_jobs: Option<u64>,
        /// Largest single upload in bytes.
        #[arg(long)]
        max_upload_bytes: Option<u64>,
        /// Remove every override first.
        #[arg(long)]
        reset: bool,
    },
}

pub async fn run(args: UserArgs) -> anyhow::Result<()> {
    let config = args.config.load()?;
    let db = crate::backends::database(&config).await?;
    let auth = AuthService::new(db.clone(), config.auth.clone())
        .context("cannot start the auth service")?;
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
        UserCommand::Quota {
            email,
            storage_bytes,
            jobs_per_day,
            concurrent_jobs,
            max_upload_bytes,
            reset,
        } => {
            let user = db
                .user_by_email(&email)
                .await?
                .with_context(|| format!("no account {email}"))?;
            let mut o = if reset {
                QuotaOverrides::default()
            } else {
                db.quota_overrides(&user.id).await?
            };
            o.storage_bytes = storage_bytes.or(o.storage_bytes);
            o.jobs_per_day = jobs_per_day.or(o.jobs_per_day);
            o.concurrent_jobs = concurrent_jobs.or(o.concurrent_jobs);
            o.max_upload_bytes = max_upload_bytes.or(o.max_upload_bytes);
            let changed = reset
                || [
                    storage_bytes,
                    jobs_per_day,
                    concurrent_jobs,
                    max_upload_bytes,
                ]
                .iter()
                .any(Option::is_some);
            if changed {
                db.set_quota_overrides(&user.id, &o).await?;
            }
            let usage = db
                .quota_usage(&user.id, mp3converter_core::now_millis())
                .await?;
            let show = |v: Option<u64>| v.map_or_else(|| "default".to_owned(), |v| v.to_string());
            println!("{}", user.email);
            println!(
                "  storage_bytes     {:>20}  used {}",
                show(o.storage_bytes),
                usage.storage_bytes
            );
            println!(
                "  jobs_per_day      {:>20}  today {}",
                show(o.jobs_per_day),
                usage.jobs_today
            );
            println!(
                "  concurrent_jobs   {:>20}  now {}",
                show(o.concurrent_jobs),
                usage.concurrent_jobs
            );
            println!("  max_upload_bytes  {:>20}", show(o.max_upload_bytes));
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
