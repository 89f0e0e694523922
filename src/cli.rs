//! Command-line administration: migrations, staff accounts, the master key and send API keys.

use std::io::{BufRead, IsTerminal};
use std::path::Path;

use clap::Subcommand;
use engine::accounts::vault::{self, KeyFileRotation, MasterKey};
use engine::audit::Actor;
use engine::{Engine, Role};

use crate::config::{Config, MasterKeySource};

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

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Re-encrypt every account secret under a new master key (stop wxpush first). A key file is
    /// replaced; a key from WXPUSH_MASTER_KEY is printed once, to be set in its place.
    Rotate,
}

#[derive(Subcommand)]
pub enum ApiKeyCommand {
    /// Create a send API key for an Official Account; prints the key once on stdout.
    Add {
        /// The Official Account's AppID.
        #[arg(long)]
        account: String,
        /// What the key is for (1–40 characters), e.g. the calling system.
        #[arg(long)]
        name: String,
        /// The presets it may use: all, or preset ids separated by commas.
        #[arg(long, default_value = "all")]
        presets: String,
        /// Messages per second it may submit.
        #[arg(long, default_value_t = model::send_api::KEY_RATE_DEFAULT)]
        rate: i64,
    },
    /// List the send API keys (of one Official Account with --account).
    List {
        #[arg(long)]
        account: Option<String>,
    },
    /// Revoke a send API key by its id: its next request is refused.
    Revoke { id: i64 },
    /// Set the webhook a send key's messages report their outcome to (prints its signing
    /// secret once on stdout), or remove it with --off.
    Webhook {
        id: i64,
        /// The http(s) URL that receives each message's final state and receipt.
        #[arg(long, required_unless_present = "off", conflicts_with = "off")]
        url: Option<String>,
        /// Remove the key's webhook.
        #[arg(long)]
        off: bool,
    },
}

/// Opens the engine with the installation's master key (creating the key file on first start).
pub async fn open_engine(config: &Config) -> Result<Engine, String> {
    match &config.master_key {
        MasterKeySource::Env(key) => {
            tracing::info!(key_id = %key.id(), "master key from {}", vault::KEY_VAR);
            open_with(config, key.clone(), false).await
        }
        MasterKeySource::File(path) => {
            let (key, created) = vault::load_or_create_key_file(path).map_err(|e| e.to_string())?;
            if created {
                tracing::warn!(
                    key_id = %key.id(),
                    "created the master key file {}: back it up apart from the database; \
                     without it the account secrets cannot be decrypted",
                    path.display()
                );
            } else {
                tracing::info!(key_id = %key.id(), "master key from {}", path.display());
            }
            open_with(config, key, created).await
        }
    }
}

async fn open_with(config: &Config, key: MasterKey, created: bool) -> Result<Engine, String> {
    match Engine::open_with_key(&config.database_url, key).await {
        Ok(engine) => Ok(engine),
        Err(e @ engine::Error::WrongMasterKey { .. }) => Err(wrong_key(config, &e, created)),
        Err(e) => Err(format!("cannot open the database: {e}")),
    }
}

/// The wrong-key error, with what to do about it.
fn wrong_key(config: &Config, err: &engine::Error, created: bool) -> String {
    let stored = match err {
        engine::Error::WrongMasterKey { stored, .. } => stored.as_str(),
        _ => "",
    };
    match &config.master_key {
        MasterKeySource::Env(_) => format!(
            "{err}. Set {} to the key this database was written with.",
            vault::KEY_VAR
        ),
        MasterKeySource::File(path) => {
            let mut message = if created {
                // The file we just made is of no use to anyone: do not leave it to be mistaken
                // for the real one.
                let _ = std::fs::remove_file(path);
                format!(
                    "{err}. There was no master key file at {}: restore it from your backup, or \
                     point {} at it, or set {}.",
                    path.display(),
                    vault::KEY_FILE_VAR,
                    vault::KEY_VAR
                )
            } else {
                format!(
                    "{err}. The key comes from {}: restore the file this database was written \
                     with, or point {} at it, or set {}.",
                    path.display(),
                    vault::KEY_FILE_VAR,
                    vault::KEY_VAR
                )
            };
            for suffix in ["new", "old"] {
                let candidate = vault::sibling(path, suffix);
                if vault::read_key_file(&candidate).is_ok_and(|k| k.id() == stored) {
                    message.push_str(&format!(
                        " {} holds key {stored}: an interrupted `wxpush keys rotate` left it; \
                         move it to {} and start again.",
                        candidate.display(),
                        path.display()
                    ));
                }
            }
            message
        }
    }
}

pub async fn migrate(config: &Config) -> Result<(), String> {
    let engine = open_engine(config).await?;
    println!("database migrated ({})", engine.db().dialect());
    Ok(())
}

pub async fn user(config: &Config, command: UserCommand) -> Result<(), String> {
    match command {
        UserCommand::Add { username, role } => {
            let role = Role::parse(&role)
                .ok_or_else(|| format!("--role: '{role}' is neither admin nor operator"))?;
            // Checked before the password prompt; the engine checks both again.
            model::rules::username(&username)
                .map_err(|p| format!("--username: {}", p.message(model::Lang::En)))?;
            let password = read_password()?;
            let engine = open_engine(config).await?;
            let staff = engine
                .create_staff(&Actor::cli(), &username, &password, role)
                .await
                .map_err(|e| e.to_string())?;
            println!("added {} ({})", staff.username, staff.role.as_str());
            Ok(())
        }
    }
}

pub async fn keys(config: &Config, command: KeysCommand) -> Result<(), String> {
    match command {
        KeysCommand::Rotate => match &config.master_key {
            MasterKeySource::Env(old) => rotate_env_key(config, old).await,
            MasterKeySource::File(path) => rotate_key_file(config, path).await,
        },
    }
}

async fn rotate_env_key(config: &Config, old: &MasterKey) -> Result<(), String> {
    let engine = open_with(config, old.clone(), false).await?;
    let new = MasterKey::generate();
    // Shown before the database changes: a crash after the commit must not lose the only copy.
    println!(
        "New master key {} (shown once; it takes effect only if this command reports success):",
        new.id()
    );
    println!();
    println!("    {}={}", vault::KEY_VAR, new.to_hex().as_str());
    println!();
    let rotation = engine
        .rotate_master_key(&Actor::cli(), &new)
        .await
        .map_err(|e| {
            format!(
                "key rotation failed, nothing changed: the database still uses key {}; discard \
                 the new key above. {e}",
                old.id()
            )
        })?;
    println!(
        "Re-encrypted {} secret(s) of {} account(s) under the new key {}.",
        rotation.values,
        rotation.accounts,
        new.id()
    );
    println!(
        "The key came from {var}, so wxpush cannot store the new one: set {var} to the value \
         above wherever wxpush runs (and in your secret store), then start wxpush. The old key \
         {} no longer opens this database.",
        old.id(),
        var = vault::KEY_VAR
    );
    Ok(())
}

async fn rotate_key_file(config: &Config, path: &Path) -> Result<(), String> {
    if std::fs::symlink_metadata(path).is_err() {
        return Err(format!(
            "there is no master key file at {} ({}): nothing to rotate",
            path.display(),
            vault::KEY_FILE_VAR
        ));
    }
    let old = vault::read_key_file(path).map_err(|e| e.to_string())?;
    let old_id = old.id();
    let engine = open_with(config, old, false).await?;
    let new = MasterKey::generate();
    let files = KeyFileRotation::prepare(path, &new).map_err(|e| e.to_string())?;
    let rotation = match engine.rotate_master_key(&Actor::cli(), &new).await {
        Ok(rotation) => rotation,
        Err(e) => {
            files.abort();
            return Err(format!(
                "key rotation failed, nothing changed (the database and {} still use key \
                 {old_id}): {e}",
                path.display()
            ));
        }
    };
    engine::on_db!(engine.db(), |pool| pool.close().await);
    files.install().map_err(|e| e.to_string())?;
    // Success is certain once the key now on disk opens the database.
    let check = vault::read_key_file(path).map_err(|e| e.to_string())?;
    match Engine::open_with_key(&config.database_url, check).await {
        Ok(engine) => engine::on_db!(engine.db(), |pool| pool.close().await),
        Err(e) => {
            return Err(format!(
                "the database was re-encrypted and {} replaced, but it does not open with the new \
                 key: {e}. The old key is kept in {}.",
                path.display(),
                files.old_path().display()
            ))
        }
    }
    files.finish().map_err(|e| e.to_string())?;
    println!(
        "Re-encrypted {} secret(s) of {} account(s); {} now holds the new master key {} (the old \
         key {old_id} no longer opens this database). Back up the new key file.",
        rotation.values,
        rotation.accounts,
        path.display(),
        new.id()
    );
    Ok(())
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

pub async fn apikey(config: &Config, command: ApiKeyCommand) -> Result<(), String> {
    let refusal = |e: engine::Error| match e {
        engine::Error::Refused(r) => format!("--{}", r.message(model::Lang::En)),
        other => other.to_string(),
    };
    match command {
        ApiKeyCommand::Add {
            account,
            name,
            presets,
            rate,
        } => {
            let scope = model::send_api::PresetScope::parse(&presets).ok_or_else(|| {
                format!("--presets: '{presets}' is neither all nor preset ids separated by commas")
            })?;
            let engine = open_engine(config).await?;
            let oa = engine
                .account_by_appid(&account)
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("--account: no account with AppID {account}"))?;
            let (secret, key) = engine
                .create_send_key(&Actor::cli(), oa.id, &name, scope, rate)
                .await
                .map_err(refusal)?;
            eprintln!(
                "created send key {} \"{}\" for {} (shown once; store it now)",
                key.id, key.name, oa.appid
            );
            println!("{secret}");
            Ok(())
        }
        ApiKeyCommand::List { account } => {
            let engine = open_engine(config).await?;
            let accounts = engine.accounts().await.map_err(|e| e.to_string())?;
            let chosen: Vec<_> = accounts
                .iter()
                .filter(|a| a.kind == model::AccountKind::Oa)
                .filter(|a| account.as_deref().is_none_or(|appid| a.appid == appid))
                .collect();
            if let (Some(appid), true) = (&account, chosen.is_empty()) {
                return Err(format!("--account: no Official Account with AppID {appid}"));
            }
            println!("id\taccount\tname\tprefix\tpresets\trate\tstate\twebhook");
            for a in chosen {
                for k in engine.send_keys(a.id).await.map_err(|e| e.to_string())? {
                    let presets = match &k.presets {
                        model::send_api::PresetScope::All => "all".to_owned(),
                        model::send_api::PresetScope::Only(ids) => {
                            ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
                        }
                    };
                    let state = if k.revoked_at_ms.is_some() {
                        "revoked"
                    } else {
                        "active"
                    };
                    println!(
                        "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                        k.id,
                        a.appid,
                        k.name,
                        k.prefix,
                        presets,
                        k.rate,
                        state,
                        k.webhook_url.as_deref().unwrap_or("-")
                    );
                }
            }
            Ok(())
        }
        ApiKeyCommand::Revoke { id } => {
            let engine = open_engine(config).await?;
            let key = engine
                .revoke_send_key(&Actor::cli(), id)
                .await
                .map_err(|e| match e {
                    engine::Error::NotFound => format!("no send key with id {id}"),
                    other => other.to_string(),
                })?;
            println!("revoked send key {} \"{}\"", key.id, key.name);
            Ok(())
        }
        ApiKeyCommand::Webhook { id, url, off } => {
            let engine = open_engine(config).await?;
            let url = if off { None } else { url };
            let (key, secret) = engine
                .set_send_key_webhook(&Actor::cli(), id, url.as_deref())
                .await
                .map_err(|e| match e {
                    engine::Error::NotFound => format!("no send key with id {id}"),
                    engine::Error::Refused(r) if r.field == "webhook_url" => {
                        format!("--url: {}", r.problem.message(model::Lang::En))
                    }
                    other => refusal(other),
                })?;
            match secret {
                Some(secret) => {
                    eprintln!(
                        "send key {} \"{}\" reports to {}; its signing secret (shown once):",
                        key.id,
                        key.name,
                        key.webhook_url.as_deref().unwrap_or_default()
                    );
                    println!("{secret}");
                }
                None => println!("send key {} \"{}\" has no webhook now", key.id, key.name),
            }
            Ok(())
        }
    }
}
