//! The wxpush command line: `serve` (the default), `migrate`, `user add`, `keys rotate` and
//! `apikey add|list|revoke|webhook`.

mod cli;
mod config;
mod sandbox;
mod server;
mod web;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "wxpush",
    version,
    about = "Self-hosted console for pushing WeChat messages"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Start the console (the default when no command is given).
    Serve {
        /// Run the built-in WeChat simulator with demo accounts: off, on, or auto (only while
        /// no real account is configured). `--sandbox` alone means on.
        #[arg(long, value_enum, default_value = "off", default_missing_value = "on", num_args = 0..=1)]
        sandbox: sandbox::SandboxMode,
    },
    /// Run the WeChat API simulator on its own, for trying integrations and for tests.
    Sim(Box<wechat_sim::SimArgs>),
    /// Apply database migrations and exit.
    Migrate,
    /// Manage staff accounts.
    User {
        #[command(subcommand)]
        command: cli::UserCommand,
    },
    /// Manage the master key the account secrets are encrypted under.
    Keys {
        #[command(subcommand)]
        command: cli::KeysCommand,
    },
    /// Manage the keys business systems send messages with (the send API).
    Apikey {
        #[command(subcommand)]
        command: cli::ApiKeyCommand,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match config::Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("wxpush: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    init_tracing(&config.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("wxpush: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command.unwrap_or(Command::Serve {
            sandbox: sandbox::SandboxMode::Off,
        }) {
            Command::Serve { sandbox } => server::serve(config, sandbox).await,
            Command::Sim(args) => wechat_sim::run_cli(*args).await.map_err(|e| e.to_string()),
            Command::Migrate => cli::migrate(&config).await,
            Command::User { command } => cli::user(&config, command).await,
            Command::Keys { command } => cli::keys(&config, command).await,
            Command::Apikey { command } => cli::apikey(&config, command).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wxpush: {e}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
