//! Secrets at rest through the real binary: the master key file is created private on first
//! start and checked on every start, a copied database reveals no secret and refuses a wrong
//! key, and `wxpush keys rotate` re-encrypts under a new key (key file or environment).

mod common;
#[path = "common/keys.rs"]
mod keys;

use common::{call, create_account, login, NewAccount, Server, TestDb};
use engine::on_both_databases;
use keys::{add_user_with, contains, everything_stored, run, run_on, stderr, stdout, TempDir};
use reqwest::StatusCode;

const ADMIN_PW: &str = "admin-password-1";
const APPID: &str = "wx5ec2e75a7e000001";
const SECRET: &str = "AppSecretAtRest0123456789abcdefA";
const TOKEN: &str = "CallbackTokenAtRest42";
const AES_KEY: &str = "EncodingAesKeyAtRest0123456789abcdefghijklm";
const SECRETS: [&str; 3] = [SECRET, TOKEN, AES_KEY];

/// Starts the console, adds an account with all three secrets, checks the callback token works,
/// and stops it.
async fn add_account(db: &TestDb, env: &[(&str, &str)]) {
    add_user_with(db, env, "admin", "admin", ADMIN_PW);
    let server = Server::start_with(db, env);
    let client = server.client();
    login(&client, &server, "admin", ADMIN_PW).await;
    create_account(
        &client,
        &server,
        NewAccount {
            kind: "oa",
            name: "静态加密",
            appid: APPID,
            secret: SECRET,
            callback_token: TOKEN,
            encoding_aes_key: AES_KEY,
            api_base: "http://127.0.0.1:9",
        },
    )
    .await;
    let list: serde_json::Value = call(&client, &server, "list_accounts", &[])
        .await
        .json()
        .await
        .unwrap();
    let text = list.to_string();
    assert!(text.contains(APPID));
    assert!(!SECRETS.iter().any(|s| text.contains(s)), "never sent back");
    assert!(callback_token_works(&server).await);
    assert!(server.stop().success());
}

/// WeChat's URL verification: answers only when the server decrypted the right callback token.
async fn callback_token_works(server: &Server) -> bool {
    let (ts, nonce) = ((engine::now_ms() / 1000).to_string(), "5150".to_owned());
    let sig = wechat::callback::signature::signature(TOKEN, &ts, &nonce);
    let res = reqwest::get(server.url(&format!(
        "/wechat/callback/{APPID}?signature={sig}&timestamp={ts}&nonce={nonce}&echostr=at-rest"
    )))
    .await
    .unwrap();
    res.status() == StatusCode::OK && res.text().await.unwrap() == "at-rest"
}

fn assert_reveals_nothing(stored: &[u8]) {
    for secret in SECRETS {
        assert!(
            !contains(stored, secret),
            "a secret is readable in the stored data"
        );
    }
}

#[cfg(unix)]
#[test]
fn first_start_creates_a_private_key_file_and_checks_it_on_every_start() {
    let db = TestDb::sqlite();
    let key_file = keys::sqlite_path(&db.url)
        .unwrap()
        .with_file_name("master.key");
    let out = run(&db, &["migrate"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("created the master key file"),
        "{}",
        stderr(&out)
    );
    assert_eq!(keys::mode(&key_file), 0o600);
    let key = std::fs::read_to_string(&key_file).unwrap();
    assert!(key.trim().len() == 64 && key.trim().chars().all(|c| c.is_ascii_hexdigit()));
    let out = run(&db, &["migrate"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), key, "kept");

    // Looser permissions: refused, naming the file and the fix.
    keys::set_mode(&key_file, 0o644);
    let out = run(&db, &["migrate"], &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains(&key_file.display().to_string()), "{err}");
    assert!(err.contains("chmod 600"), "{err}");
    keys::set_mode(&key_file, 0o600);

    // A malformed file: refused, without printing its content.
    std::fs::write(&key_file, "0123456789abcdef\n").unwrap();
    let out = run(&db, &["migrate"], &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("is not a master key") && err.contains("64 hex characters"),
        "{err}"
    );
    assert!(!err.contains("0123456789abcdef"), "{err}");
    std::fs::write(&key_file, &key).unwrap();

    // WXPUSH_MASTER_KEY_FILE chooses another file, created in turn.
    let dir = TempDir::new("keyfile");
    let other = dir.join("sub/wxpush.key");
    let out = run(
        &db,
        &["migrate"],
        &[("WXPUSH_MASTER_KEY_FILE", other.to_str().unwrap())],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(keys::mode(&other), 0o600);

    // A malformed WXPUSH_MASTER_KEY: a configuration error naming the variable, not the value.
    for bad in ["hunter2", "0123456789abcdef0123456789abcdef"] {
        let out = run(&db, &["migrate"], &[("WXPUSH_MASTER_KEY", bad)]);
        assert_eq!(out.status.code(), Some(2));
        let err = stderr(&out);
        assert!(
            err.contains("WXPUSH_MASTER_KEY") && err.contains("64 hex characters"),
            "{err}"
        );
        assert!(!err.contains(bad), "{err}");
    }
    let out = run(
        &db,
        &["migrate"],
        &[
            ("WXPUSH_MASTER_KEY", key.trim()),
            ("WXPUSH_MASTER_KEY_FILE", "/tmp/x"),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("WXPUSH_MASTER_KEY_FILE"));
}

async fn a_copied_database_reveals_nothing(db: TestDb) {
    let dir = TempDir::new("secrets");
    let key_file = dir.join("master.key");
    let env = [("WXPUSH_MASTER_KEY_FILE", key_file.to_str().unwrap())];
    add_account(&db, &env).await;

    // The copy: the SQLite file alone, or the PostgreSQL rows.
    let copy = TempDir::new("copy");
    let url = match keys::sqlite_path(&db.url) {
        Some(path) => {
            std::fs::copy(&path, copy.join("wx.db")).unwrap();
            let mut wal = path.into_os_string();
            wal.push("-wal");
            if std::fs::metadata(&wal).is_ok() {
                std::fs::copy(&wal, copy.join("wx.db-wal")).unwrap();
            }
            format!("sqlite:{}", copy.join("wx.db").display())
        }
        None => db.url.clone(),
    };
    assert_reveals_nothing(&everything_stored(&url).await);

    // Without its key file, wxpush refuses it (and does not leave a useless new key behind).
    let missing = copy.join("master.key");
    let out = run_on(
        &url,
        &["migrate"],
        &[("WXPUSH_MASTER_KEY_FILE", missing.to_str().unwrap())],
        "",
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("wrong master key"), "{err}");
    assert!(err.contains("There was no master key file"), "{err}");
    assert!(!missing.exists());

    // With another key, the same.
    let wrong = engine::accounts::vault::MasterKey::generate();
    let out = run_on(
        &url,
        &["serve"],
        &[("WXPUSH_MASTER_KEY", wrong.to_hex().as_str())],
        "",
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("wrong master key") && err.contains(&wrong.id()),
        "{err}"
    );
    assert!(err.contains("Set WXPUSH_MASTER_KEY to the key"), "{err}");

    // With the right key, the copy works.
    let key = std::fs::read_to_string(&key_file).unwrap();
    let out = run_on(&url, &["migrate"], &[("WXPUSH_MASTER_KEY", key.trim())], "");
    assert!(out.status.success(), "{}", stderr(&out));
}
on_both_databases!(a_copied_database_reveals_nothing);

async fn keys_rotate_replaces_the_key_file(db: TestDb) {
    let dir = TempDir::new("rotate");
    let key_file = dir.join("master.key");
    let env = [("WXPUSH_MASTER_KEY_FILE", key_file.to_str().unwrap())];
    add_account(&db, &env).await;
    let old = std::fs::read_to_string(&key_file).unwrap();

    let out = run(&db, &["keys", "rotate"], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    let new = std::fs::read_to_string(&key_file).unwrap();
    assert_ne!(new, old);
    let new_id = engine::accounts::vault::MasterKey::parse(&new)
        .unwrap()
        .id();
    let said = stdout(&out);
    assert!(
        said.contains("Re-encrypted 3 secret(s) of 1 account(s)"),
        "{said}"
    );
    assert!(said.contains(&new_id), "{said}");
    assert!(
        !said.contains(new.trim()),
        "a key file's key is not printed"
    );
    #[cfg(unix)]
    assert_eq!(keys::mode(&key_file), 0o600);
    assert_eq!(
        std::fs::read_dir(&dir.0).unwrap().count(),
        1,
        "no .new or .old file is left"
    );

    // The audit log has the rotation, with counts and no secret.
    let stored = everything_stored(&db.url).await;
    assert_reveals_nothing(&stored);
    assert!(!contains(&stored, old.trim()) && !contains(&stored, new.trim()));
    let audit = audit_details(&db, "keys.rotate").await;
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0].0, "cli");
    let detail: serde_json::Value = serde_json::from_str(&audit[0].1).unwrap();
    assert_eq!(
        (detail["accounts"].as_i64(), detail["values"].as_i64()),
        (Some(1), Some(3))
    );
    assert_eq!(detail["new_key_id"], new_id);

    // The old key no longer opens the database; the new one does, and the secrets are intact.
    let out = run(&db, &["migrate"], &[("WXPUSH_MASTER_KEY", old.trim())]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("wrong master key"));
    let server = Server::start_with(&db, &env);
    assert!(callback_token_works(&server).await);
    assert!(server.stop().success());

    // An interrupted rotation (the new key still in master.key.new) is explained at start-up.
    let pending = dir.join("master.key.new");
    std::fs::rename(&key_file, &pending).unwrap();
    std::fs::write(&key_file, &old).unwrap();
    #[cfg(unix)]
    keys::set_mode(&key_file, 0o600);
    let out = run(&db, &["migrate"], &env);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!("{} holds key {new_id}", pending.display())),
        "{err}"
    );
    // …and a rotation is refused until it is sorted out.
    let out = run(&db, &["keys", "rotate"], &env);
    assert!(!out.status.success());
}
on_both_databases!(keys_rotate_replaces_the_key_file);

async fn keys_rotate_prints_a_new_environment_key(db: TestDb) {
    let old = engine::accounts::vault::MasterKey::generate();
    let old_hex = old.to_hex();
    let env = [("WXPUSH_MASTER_KEY", old_hex.as_str())];
    add_account(&db, &env).await;

    let out = run(&db, &["keys", "rotate"], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    let said = stdout(&out);
    let new_hex: String = said
        .split("WXPUSH_MASTER_KEY=")
        .nth(1)
        .unwrap_or_else(|| panic!("the new key is printed: {said}"))
        .chars()
        .take_while(|c| c.is_ascii_hexdigit())
        .collect();
    assert_eq!(new_hex.len(), 64, "{said}");
    assert!(
        said.contains("Re-encrypted 3 secret(s) of 1 account(s)"),
        "{said}"
    );
    assert!(said.contains("set WXPUSH_MASTER_KEY"), "{said}");
    assert_reveals_nothing(&everything_stored(&db.url).await);
    assert_eq!(audit_details(&db, "keys.rotate").await.len(), 1);

    let out = run(&db, &["migrate"], &env);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("wrong master key"));
    let server = Server::start_with(&db, &[("WXPUSH_MASTER_KEY", &new_hex)]);
    assert!(callback_token_works(&server).await);
    assert!(server.stop().success());
}
on_both_databases!(keys_rotate_prints_a_new_environment_key);

/// Secrets an earlier version stored in plaintext are encrypted when wxpush starts.
async fn plaintext_is_encrypted_at_start_up(db: TestDb) {
    let dir = TempDir::new("upgrade");
    let key_file = dir.join("master.key");
    let env = [("WXPUSH_MASTER_KEY_FILE", key_file.to_str().unwrap())];
    assert!(run(&db, &["migrate"], &env).status.success());
    let insert = "INSERT INTO accounts (kind, name, appid, secret, callback_token, \
                  encoding_aes_key, api_base, created_at_ms, updated_at_ms) \
                  VALUES ('oa', 'old', $1, $2, $3, $4, 'http://127.0.0.1:9', 0, 0)";
    if db.url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
        sqlx::query(insert)
            .bind(APPID)
            .bind(SECRET)
            .bind(TOKEN)
            .bind(AES_KEY)
            .execute(&pool)
            .await
            .unwrap();
        let id: i64 = sqlx::query_scalar("SELECT id FROM accounts")
            .fetch_one(&pool)
            .await
            .unwrap();
        sqlx::query("INSERT INTO wechat_tokens (account_id) VALUES ($1)")
            .bind(id)
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
        let id: i64 = sqlx::query_scalar(&format!("{insert} RETURNING id"))
            .bind(APPID)
            .bind(SECRET)
            .bind(TOKEN)
            .bind(AES_KEY)
            .fetch_one(&pool)
            .await
            .unwrap();
        sqlx::query("INSERT INTO wechat_tokens (account_id) VALUES ($1)")
            .bind(id)
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }

    let server = Server::start_with(&db, &env);
    assert!(callback_token_works(&server).await);
    assert!(server.stop().success());
    assert_reveals_nothing(&everything_stored(&db.url).await);
    let upgrades = audit_details(&db, "keys.encrypt_plaintext").await;
    assert_eq!(upgrades.len(), 1);
    assert!(upgrades[0].1.contains("\"values\":3"), "{upgrades:?}");
    // Idempotent.
    assert!(run(&db, &["migrate"], &env).status.success());
    assert_eq!(audit_details(&db, "keys.encrypt_plaintext").await.len(), 1);
}
on_both_databases!(plaintext_is_encrypted_at_start_up);

/// (actor, detail) of the audit entries for `action`.
async fn audit_details(db: &TestDb, action: &str) -> Vec<(String, String)> {
    let sql = "SELECT actor, detail FROM audit_log WHERE action = $1 ORDER BY id";
    if db.url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
        let rows = sqlx::query_as(sql)
            .bind(action)
            .fetch_all(&pool)
            .await
            .unwrap();
        pool.close().await;
        rows
    } else {
        let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
        let rows = sqlx::query_as(sql)
            .bind(action)
            .fetch_all(&pool)
            .await
            .unwrap();
        pool.close().await;
        rows
    }
}
