//! Secrets at rest: account secrets are AES-256-GCM ciphertext in the database, a copy of the
//! database without the key reveals none of them, a wrong key is reported as such, plaintext
//! from earlier versions is encrypted in place, rotation re-encrypts, and the key file is private.

use std::path::{Path, PathBuf};

use engine::accounts::vault::{self, KeyFileRotation, MasterKey};
use engine::accounts::{Account, AccountChanges, AccountKind, NewAccount, Secret};
use engine::audit::Actor;
use engine::testing::TestDb;
use engine::{on_both_databases, on_db, Engine, Error};

const OA_SECRET: &str = "5ecre7a1b2c3d4e5f60718293a4b5c6d";
const OA_SECRET_2: &str = "5ecre7ffeeddccbbaa99887766554433";
const OA_TOKEN: &str = "cbTokenAtRest2024";
const OA_AES: &str = "AesKeyAtRestabcdefghijklmnopqrstuvwxyz01234";
const MP_SECRET: &str = "5ecre7mp0123456789abcdef01234567";

fn new_account(kind: AccountKind, appid: &str, secret: &str, token: &str, aes: &str) -> NewAccount {
    NewAccount {
        kind,
        name: format!("{} {appid}", kind.as_str()),
        appid: appid.into(),
        secret: Secret::new(secret),
        callback_token: Secret::new(token),
        encoding_aes_key: Secret::new(aes),
        api_base: "http://127.0.0.1:9".into(),
        linked_account_id: None,
        sandbox: false,
    }
}

/// An OA with all three secrets (its AppSecret changed once) and an MP with only an AppSecret.
async fn seed(engine: &Engine) -> (Account, Account) {
    let oa = engine
        .create_account(
            &Actor::cli(),
            new_account(
                AccountKind::Oa,
                "wx00000000000000a1",
                OA_SECRET,
                OA_TOKEN,
                OA_AES,
            ),
        )
        .await
        .unwrap();
    let oa = engine
        .update_account(
            &Actor::cli(),
            oa.id,
            AccountChanges {
                secret: Some(Secret::new(OA_SECRET_2)),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mp = engine
        .create_account(
            &Actor::cli(),
            new_account(AccountKind::Mp, "wx00000000000000b2", MP_SECRET, "", ""),
        )
        .await
        .unwrap();
    (oa, mp)
}

const ALL_SECRETS: [&str; 5] = [OA_SECRET, OA_SECRET_2, OA_TOKEN, OA_AES, MP_SECRET];

fn sqlite_path(url: &str) -> Option<PathBuf> {
    url.strip_prefix("sqlite:").map(PathBuf::from)
}

async fn close(engine: Engine) {
    on_db!(engine.db(), |pool| pool.close().await);
}

/// Everything an attacker holding the database (but not the key) sees: the raw bytes of the
/// SQLite file and its journal, or every row of every PostgreSQL table as text.
async fn everything_stored(url: &str) -> Vec<u8> {
    if let Some(path) = sqlite_path(url) {
        let mut bytes = Vec::new();
        for suffix in ["", "-wal", "-shm", "-journal"] {
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
    assert!(tables.iter().any(|t| t == "accounts"));
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

fn assert_reveals_nothing(stored: &[u8], secrets: &[&str]) {
    for secret in secrets {
        assert!(
            !stored.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "a secret is readable in the stored data"
        );
    }
}

async fn stored_secrets(engine: &Engine) -> Vec<(i64, String, String, String)> {
    on_db!(engine.db(), |pool| sqlx::query_as(
        "SELECT id, secret, callback_token, encoding_aes_key FROM accounts ORDER BY id"
    )
    .fetch_all(pool)
    .await)
    .unwrap()
}

fn assert_same(a: &Account, b: &Account) {
    assert_eq!(
        (
            a.id,
            &a.appid,
            &a.secret,
            &a.callback_token,
            &a.encoding_aes_key
        ),
        (
            b.id,
            &b.appid,
            &b.secret,
            &b.callback_token,
            &b.encoding_aes_key
        )
    );
}

async fn a_copied_database_reveals_nothing(db: TestDb) {
    let key = MasterKey::generate();
    let engine = Engine::open_with_key(&db.url, key.clone()).await.unwrap();
    let (oa, mp) = seed(&engine).await;
    assert_eq!(oa.secret.expose(), OA_SECRET_2);
    assert_eq!(oa.encoding_aes_key.expose(), OA_AES);
    assert!(!mp.callback_token.is_set());

    for (_, secret, token, aes) in stored_secrets(&engine).await {
        assert!(secret.starts_with(&format!("v1:{}:", key.id())), "{secret}");
        for v in [token, aes] {
            assert!(
                v.is_empty() || v.starts_with(&format!("v1:{}:", key.id())),
                "{v}"
            );
        }
    }
    close(engine).await;

    // The copy: the SQLite file on its own (no key file beside it), or the PostgreSQL rows.
    let copy_dir = std::env::temp_dir().join(format!("wxpush-copy-{}", rand_suffix()));
    let url = match sqlite_path(&db.url) {
        Some(path) => {
            std::fs::create_dir_all(&copy_dir).unwrap();
            // The file with its write-ahead log, if one is left: what a copy of the folder holds.
            for suffix in ["", "-wal", "-shm"] {
                let mut from = path.as_os_str().to_owned();
                from.push(suffix);
                if std::path::Path::new(&from).exists() {
                    std::fs::copy(&from, copy_dir.join(format!("copy.db{suffix}"))).unwrap();
                }
            }
            format!("sqlite:{}", copy_dir.join("copy.db").display())
        }
        None => db.url.clone(),
    };
    assert_reveals_nothing(&everything_stored(&url).await, &ALL_SECRETS);

    let wrong = MasterKey::generate();
    let err = Engine::open_with_key(&url, wrong.clone())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::WrongMasterKey { stored, current } if *stored == key.id() && *current == wrong.id()),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains("wrong master key"), "{message}");
    assert!(
        message.contains(&key.id()) && message.contains(&wrong.id()),
        "{message}"
    );
    // The lenient test opener does not refuse the database, but does not read garbage either.
    let lenient = Engine::open(&url).await.unwrap();
    assert!(matches!(
        lenient.account(oa.id).await,
        Err(Error::WrongMasterKey { .. })
    ));
    assert!(lenient.accounts().await.is_err());
    close(lenient).await;

    let right = Engine::open_with_key(&url, key).await.unwrap();
    assert_same(&right.account(oa.id).await.unwrap().unwrap(), &oa);
    assert_same(&right.account(mp.id).await.unwrap().unwrap(), &mp);
    assert_same(
        &right.account_by_appid(&oa.appid).await.unwrap().unwrap(),
        &oa,
    );
    assert_eq!(right.accounts().await.unwrap().len(), 2);
    close(right).await;
    let _ = std::fs::remove_dir_all(copy_dir);
}
on_both_databases!(a_copied_database_reveals_nothing);

fn rand_suffix() -> String {
    MasterKey::generate().id()
}

async fn plaintext_from_earlier_versions_is_encrypted_in_place(db: TestDb) {
    // An earlier version's database: the schema, and secrets stored as they were typed.
    let schema = Engine::open(&db.url).await.unwrap();
    let rows = [
        ("wx00000000000000a1", "oa", OA_SECRET, OA_TOKEN, OA_AES),
        ("wx00000000000000b2", "mp", MP_SECRET, "", ""),
    ];
    for (appid, kind, secret, token, aes) in rows {
        on_db!(schema.db(), |pool| sqlx::query(
            "INSERT INTO accounts (kind, name, appid, secret, callback_token, encoding_aes_key, \
             api_base, created_at_ms, updated_at_ms) VALUES ($1, 'old', $2, $3, $4, $5, 'http://x', 0, 0)"
        )
        .bind(kind)
        .bind(appid)
        .bind(secret)
        .bind(token)
        .bind(aes)
        .execute(pool)
        .await
        .map(|_| ()))
        .unwrap();
    }
    close(schema).await;

    let key = MasterKey::generate();
    let engine = Engine::open_with_key(&db.url, key.clone()).await.unwrap();
    let sealed = stored_secrets(&engine).await;
    for (_, secret, token, aes) in &sealed {
        for v in [secret, token, aes] {
            assert!(
                v.is_empty() || v.starts_with(&format!("v1:{}:", key.id())),
                "{v}"
            );
        }
    }
    assert_eq!(sealed[1].2, "", "an unset secret stays unset");
    let oa = engine
        .account_by_appid("wx00000000000000a1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            oa.secret.expose(),
            oa.callback_token.expose(),
            oa.encoding_aes_key.expose()
        ),
        (OA_SECRET, OA_TOKEN, OA_AES)
    );
    let audit = engine
        .audit_recent(Some("keys.encrypt_plaintext"), 10)
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    assert!(
        audit[0].detail.contains("\"values\":4"),
        "{}",
        audit[0].detail
    );
    close(engine).await;
    // The plaintext is gone from the file itself, not just from the rows.
    assert_reveals_nothing(&everything_stored(&db.url).await, &ALL_SECRETS);

    // Idempotent: a second start changes nothing.
    let again = Engine::open_with_key(&db.url, key).await.unwrap();
    assert_eq!(stored_secrets(&again).await, sealed);
    assert_eq!(
        again
            .audit_recent(Some("keys.encrypt_plaintext"), 10)
            .await
            .unwrap()
            .len(),
        1
    );
    close(again).await;
}
on_both_databases!(plaintext_from_earlier_versions_is_encrypted_in_place);

async fn values_cannot_be_swapped_between_rows(db: TestDb) {
    let engine = Engine::open_with_key(&db.url, MasterKey::generate())
        .await
        .unwrap();
    let (oa, mp) = seed(&engine).await;
    // Someone with write access to the database moves the OA's AppSecret to the MP, and its
    // token into its own AppSecret column.
    on_db!(engine.db(), |pool| {
        sqlx::query("UPDATE accounts SET secret = (SELECT secret FROM accounts WHERE id = $1) WHERE id = $2")
            .bind(oa.id)
            .bind(mp.id)
            .execute(pool)
            .await
            .unwrap();
        sqlx::query("UPDATE accounts SET secret = callback_token WHERE id = $1")
            .bind(oa.id)
            .execute(pool)
            .await
            .unwrap();
    });
    for (id, column) in [(mp.id, "secret"), (oa.id, "secret")] {
        match engine.account(id).await {
            Err(Error::SecretUnreadable(what)) => {
                assert!(
                    what.starts_with(&format!("accounts.{id}.{column}")),
                    "{what}"
                );
                assert!(!ALL_SECRETS.iter().any(|s| what.contains(s)));
            }
            other => panic!("expected an unreadable secret, got {:?}", other.map(|_| ())),
        }
    }
    // Plaintext written behind wxpush's back is refused too, not used.
    on_db!(engine.db(), |pool| sqlx::query(
        "UPDATE accounts SET secret = 'plain' WHERE id = $1"
    )
    .bind(mp.id)
    .execute(pool)
    .await
    .map(|_| ()))
    .unwrap();
    assert!(matches!(
        engine.account(mp.id).await,
        Err(Error::SecretUnreadable(_))
    ));
    close(engine).await;
}
on_both_databases!(values_cannot_be_swapped_between_rows);

async fn rotation_re_encrypts_every_secret(db: TestDb) {
    let old = MasterKey::generate();
    let engine = Engine::open_with_key(&db.url, old.clone()).await.unwrap();
    let (oa, mp) = seed(&engine).await;
    let before = stored_secrets(&engine).await;
    let new = MasterKey::generate();
    let rotation = engine.rotate_master_key(&Actor::cli(), &new).await.unwrap();
    assert_eq!((rotation.accounts, rotation.values), (2, 4));
    let after = stored_secrets(&engine).await;
    for ((_, s0, t0, a0), (_, s1, t1, a1)) in before.iter().zip(&after) {
        for (was, is) in [(s0, s1), (t0, t1), (a0, a1)] {
            if was.is_empty() {
                assert!(is.is_empty());
            } else {
                assert_ne!(was, is);
                assert!(is.starts_with(&format!("v1:{}:", new.id())), "{is}");
            }
        }
    }
    let audit = engine.audit_recent(Some("keys.rotate"), 10).await.unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].actor, "cli");
    let detail: serde_json::Value = serde_json::from_str(&audit[0].detail).unwrap();
    assert_eq!(detail["accounts"], 2);
    assert_eq!(detail["values"], 4);
    assert_eq!(detail["new_key_id"], new.id());
    assert_reveals_nothing(audit[0].detail.as_bytes(), &ALL_SECRETS);
    close(engine).await;

    assert!(matches!(
        Engine::open_with_key(&db.url, old).await,
        Err(Error::WrongMasterKey { .. })
    ));
    let reopened = Engine::open_with_key(&db.url, new).await.unwrap();
    assert_same(&reopened.account(oa.id).await.unwrap().unwrap(), &oa);
    assert_same(&reopened.account(mp.id).await.unwrap().unwrap(), &mp);
    close(reopened).await;
    assert_reveals_nothing(&everything_stored(&db.url).await, &ALL_SECRETS);
}
on_both_databases!(rotation_re_encrypts_every_secret);

/// A fresh folder for key files.
struct Dir(PathBuf);

impl Dir {
    fn new() -> Dir {
        let dir = std::env::temp_dir().join(format!("wxpush-keys-{}", rand_suffix()));
        std::fs::create_dir_all(&dir).unwrap();
        Dir(dir)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[cfg(unix)]
#[test]
fn the_key_file_is_created_once_private_and_checked() {
    let dir = Dir::new();
    let path = dir.0.join("nested").join("master.key");
    let (key, created) = vault::load_or_create_key_file(&path).unwrap();
    assert!(created);
    assert_eq!(mode(&path), 0o600);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.trim().len(), 64, "64 hex characters");
    let (again, created) = vault::load_or_create_key_file(&path).unwrap();
    assert!(!created);
    assert_eq!(again.id(), key.id());
    assert_eq!(
        std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
        1,
        "no temporary file is left behind"
    );

    set_mode(&path, 0o644);
    let err = vault::load_or_create_key_file(&path)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(err.contains("0644") && err.contains("chmod 600"), "{err}");
    set_mode(&path, 0o640);
    assert!(vault::read_key_file(&path).is_err());

    set_mode(&path, 0o600);
    std::fs::write(&path, "not a key\n").unwrap();
    let err = vault::load_or_create_key_file(&path)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("is not a master key") && err.contains("64 hex characters"),
        "{err}"
    );
    assert!(!err.contains("not a key\n"));

    // A base64 key written by hand is accepted.
    std::fs::write(&path, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n").unwrap();
    let from_b64 = vault::read_key_file(&path).unwrap();
    assert_eq!(
        from_b64.id(),
        MasterKey::from_bytes(std::array::from_fn(|i| i as u8)).id()
    );
}

#[test]
fn processes_starting_together_agree_on_one_key() {
    let dir = Dir::new();
    let path = dir.0.join("master.key");
    let ids: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| s.spawn(|| vault::load_or_create_key_file(&path).unwrap().0.id()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert_eq!(std::fs::read_dir(&dir.0).unwrap().count(), 1);
}

#[test]
fn key_file_rotation_keeps_a_backup_until_finished() {
    let dir = Dir::new();
    let path = dir.0.join("master.key");
    let (old, _) = vault::load_or_create_key_file(&path).unwrap();
    let new = MasterKey::generate();

    let aborted = KeyFileRotation::prepare(&path, &new).unwrap();
    aborted.abort();
    assert_eq!(vault::read_key_file(&path).unwrap().id(), old.id());
    assert_eq!(std::fs::read_dir(&dir.0).unwrap().count(), 1);

    let rotation = KeyFileRotation::prepare(&path, &new).unwrap();
    assert_eq!(
        vault::read_key_file(rotation.old_path()).unwrap().id(),
        old.id()
    );
    // A second rotation while one is under way is refused.
    let err = KeyFileRotation::prepare(&path, &MasterKey::generate())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("interrupted key rotation"), "{err}");
    rotation.install().unwrap();
    assert_eq!(vault::read_key_file(&path).unwrap().id(), new.id());
    assert!(rotation.old_path().exists());
    rotation.finish().unwrap();
    assert_eq!(std::fs::read_dir(&dir.0).unwrap().count(), 1);
    #[cfg(unix)]
    assert_eq!(mode(&path), 0o600);
}

/// `Engine::open` (tests, examples) encrypts too, under the fixed development key.
async fn the_test_opener_uses_the_development_key(db: TestDb) {
    let engine = Engine::open(&db.url).await.unwrap();
    let dev = MasterKey::insecure_development_key();
    assert_eq!(engine.master_key_id(), dev.id());
    let (oa, _) = seed(&engine).await;
    assert!(stored_secrets(&engine).await[0]
        .1
        .starts_with(&format!("v1:{}:", dev.id())));
    close(engine).await;
    let same = Engine::open_with_key(&db.url, dev).await.unwrap();
    assert_same(&same.account(oa.id).await.unwrap().unwrap(), &oa);
    close(same).await;
}
on_both_databases!(the_test_opener_uses_the_development_key);

/// The account a session works on is found, and decrypted, alone: the chosen Official Account,
/// else the first one; never a Mini Program, never another account's secret.
async fn the_current_official_account_is_read_alone(db: TestDb) {
    let engine = Engine::open(&db.url).await.unwrap();
    assert!(engine.official_account(None).await.unwrap().is_none());
    let (oa, mp) = seed(&engine).await;
    let second = engine
        .create_account(
            &Actor::cli(),
            new_account(AccountKind::Oa, "wx00000000000000a2", OA_SECRET, "", ""),
        )
        .await
        .unwrap();
    let first = engine.official_account(None).await.unwrap().unwrap();
    assert_eq!(first.id, oa.id);
    assert_eq!(first.secret.expose(), OA_SECRET_2);
    let chosen = engine
        .official_account(Some(second.id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(chosen.id, second.id);
    assert_eq!(
        engine
            .official_account(Some(mp.id))
            .await
            .unwrap()
            .unwrap()
            .id,
        oa.id,
        "a Mini Program is never the current Official Account"
    );
    assert_eq!(
        engine
            .official_account(Some(999_999))
            .await
            .unwrap()
            .unwrap()
            .id,
        oa.id
    );
}
on_both_databases!(the_current_official_account_is_read_alone);
