//! The subcommands of the one binary: `serve` (the default), `migrate`, `users`, `keys`,
//! `demo` and `healthcheck`.

mod accounts;
mod database;
mod healthcheck;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::config::{Config, LogFormat};
use crate::server;

pub use database::Database;

/// A self-hosted guest-messaging server that speaks the Channex.io Messages API.
///
/// Without a command, `ota-inbox` serves (the options below are those of `serve`).
#[derive(Debug, Parser)]
#[command(
    name = "ota-inbox",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub serve: Config,
}

// Parsed once at start-up: the size of the serve settings does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve(Config),
    /// Apply the database migrations, then exit.
    Migrate(DbArgs),
    /// Manage users.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Seed the demo (a user and key, a property, two conversations) and print its API key.
    Demo(DbArgs),
    /// Exit 0 when the server's GET /ready answers 200 (for container health checks).
    Healthcheck(healthcheck::HealthcheckArgs),
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a user; prints its id.
    Create {
        /// The user's email (unique).
        #[arg(long)]
        email: String,
        /// The user's name.
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create an API key; prints the key (shown this once: only its hash is kept).
    Create {
        /// The key's user: an id or an email.
        #[arg(long)]
        user: String,
        /// A property the key may see (repeat for several); none: every property of the user.
        #[arg(long = "property", value_name = "PROPERTY_ID")]
        properties: Vec<uuid::Uuid>,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Revoke an API key by its id.
    Revoke {
        /// The key's id.
        key_id: uuid::Uuid,
        #[command(flatten)]
        db: DbArgs,
    },
}

/// The database of a command: DATABASE_URL, else the embedded cluster of DATA_DIR.
#[derive(Debug, Clone, Args)]
pub struct DbArgs {
    /// PostgreSQL to use. Unset: the embedded cluster under DATA_DIR/postgres, started for the
    /// command and stopped after it (it must not belong to a running server).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Directory of the embedded cluster and of the kept demo key.
    #[arg(long, env = "DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
}

impl DbArgs {
    /// An empty DATABASE_URL counts as unset, as for the server.
    fn normalized(mut self) -> Self {
        self.database_url = self.database_url.filter(|v| !v.trim().is_empty());
        self
    }
}

/// Runs the command line; answers the process's exit code.
pub fn run(cli: Cli) -> ExitCode {
    let log_format = match &cli.command {
        Some(Command::Serve(config)) => config.log_format,
        _ => cli.serve.log_format,
    };
    let chore = !matches!(cli.command, None | Some(Command::Serve(_)));
    // A chore speaks on stdout and stderr; its logs are for when something goes wrong.
    server::init_tracing(
        if chore { LogFormat::Text } else { log_format },
        if chore { "warn" } else { "info" },
    );
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: could not start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            None => serve::run(cli.serve.normalized()).await,
            Some(Command::Serve(config)) => serve::run(config.normalized()).await,
            Some(Command::Migrate(db)) => migrate(db.normalized()).await,
            Some(Command::Users(UsersCommand::Create { email, name, db })) => {
                accounts::create_user(db.normalized(), &email, name.as_deref()).await
            }
            Some(Command::Keys(KeysCommand::Create {
                user,
                properties,
                db,
            })) => accounts::create_key(db.normalized(), &user, &properties).await,
            Some(Command::Keys(KeysCommand::Revoke { key_id, db })) => {
                accounts::revoke_key(db.normalized(), key_id).await
            }
            Some(Command::Demo(db)) => demo(db.normalized()).await,
            Some(Command::Healthcheck(args)) => healthcheck::run(&args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// `ota-inbox migrate`
async fn migrate(args: DbArgs) -> anyhow::Result<()> {
    Database::open(&args, "migrate")
        .await?
        .run(|_| async {
            eprintln!("the database is migrated");
            Ok(())
        })
        .await
}

/// `ota-inbox demo`
async fn demo(args: DbArgs) -> anyhow::Result<()> {
    let data_dir = args.data_dir.clone();
    Database::open(&args, "demo")
        .await?
        .run(|pool| async move {
            let installed = crate::demo::install(&pool, &data_dir).await?;
            if installed.seeded {
                eprintln!(
                    "seeded the demo: user {} ({}), its property and conversations",
                    crate::demo::DEMO_EMAIL,
                    installed.user_id
                );
            } else {
                eprintln!(
                    "the demo was there already (user {}); its API key:",
                    crate::demo::DEMO_EMAIL
                );
            }
            println!("{}", installed.api_key);
            Ok(())
        })
        .await
}
