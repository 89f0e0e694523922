//! Helpers for the master-key tests: the `wxpush` binary with chosen key settings.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::common::{TestDb, BIN};

/// A temporary folder, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(what: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "wxpush-{what}-{}",
            engine::accounts::vault::MasterKey::generate().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `wxpush ARGS…` on `url` with `env`, writing `stdin` to it.
pub fn run_on(url: &str, args: &[&str], env: &[(&str, &str)], stdin: &str) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env("WXPUSH_DATABASE_URL", url)
        .env("WXPUSH_LOG", "warn")
        .env_remove("WXPUSH_MASTER_KEY")
        .env_remove("WXPUSH_MASTER_KEY_FILE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child.wait_with_output().unwrap()
}

pub fn run(db: &TestDb, args: &[&str], env: &[(&str, &str)]) -> Output {
    run_on(&db.url, args, env, "")
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `wxpush user add` with the given key settings.
pub fn add_user_with(db: &TestDb, env: &[(&str, &str)], username: &str, role: &str, pw: &str) {
    let out = run_on(
        &db.url,
        &["user", "add", "--username", username, "--role", role],
        env,
        &format!("{pw}\n"),
    );
    assert!(out.status.success(), "user add failed: {}", stderr(&out));
}

#[cfg(unix)]
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
pub fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The SQLite file behind `url`, if it is one.
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    url.strip_prefix("sqlite:").map(PathBuf::from)
}

/// All an attacker holding the database sees: the SQLite file (with its log), or every row of
/// every PostgreSQL table as text.
pub async fn everything_stored(url: &str) -> Vec<u8> {
    if let Some(path) = sqlite_path(url) {
        let mut bytes = Vec::new();
        for suffix in ["", "-wal", "-journal"] {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            if let Ok(b) = std::fs::read(&name) {
                bytes.extend(b);
            }
        }
        assert!(bytes.len() > 4096, "the database file was read");
        return bytes;
    }
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut text = String::new();
    for table in tables {
        let rows: Vec<String> = sqlx::query_scalar(&format!("SELECT t::text FROM \"{table}\" t"))
            .fetch_all(&pool)
            .await
            .unwrap();
        for row in rows {
            text.push_str(&row);
            text.push('\n');
        }
    }
    pool.close().await;
    text.into_bytes()
}

pub fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}
