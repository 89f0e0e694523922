//! Command-line administration: migrations and staff accounts.

use std::io::{BufRead, IsTerminal};

use clap::Subcommand;
use engine::audit::Actor;
use engine::{Engine, Role};

use crate::config::Config;

#[derive(Subcommand)]
pub enum UserCommand {
    /// Add a staff member. The password is read from standard input, or prompted for on a terminal.
    Add {
        #[arg(long)]
        username: String,
        /// admin or operator.
        #[arg(long, default_value = "operator")]
        role: String,
    },
}

pub async fn migrate(config: &Config) -> Result<(), String> {
    let engine = Engine::open(&config.database_url)
        .await
        .map_err(|e| e.to_string())?;
    println!("database migrated ({})", engine.db().dialect());
    Ok(())
}

pub async fn user(config: &Config, command: UserCommand) -> Result<(), String> {
    match command {
        UserCommand::Add { username, role } => {
            let role = Role::parse(&role)
                .ok_or_else(|| format!("--role: '{role}' is neither admin nor operator"))?;
            app::validate::username(&username)
                .map_err(|p| format!("--username: {}", p.message(app::i18n::Lang::En)))?;
            let password = read_password()?;
            app::validate::new_password(&password)
                .map_err(|p| format!("password: {}", p.message(app::i18n::Lang::En)))?;
            let engine = Engine::open(&config.database_url)
                .await
                .map_err(|e| e.to_string())?;
            let staff = engine
                .create_staff(&Actor::cli(), &username, &password, role)
                .await
                .map_err(|e| e.to_string())?;
            println!("added {} ({})", staff.username, staff.role.as_str());
            Ok(())
        }
    }
}

/// The password from a hidden prompt (typed twice) on a terminal, else the first line of stdin.
fn read_password() -> Result<String, String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ").map_err(|e| e.to_string())?;
        let again = rpassword::prompt_password("Repeat password: ").map_err(|e| e.to_string())?;
        if first != again {
            return Err("the passwords do not match".into());
        }
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the password from stdin: {e}"))?;
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }
}
