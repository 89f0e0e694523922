//! Every audited change commits in one transaction with its audit entry, on SQLite and
//! PostgreSQL: a database trigger of the test's own makes the audit log refuse one action; the
//! call then fails and its change is not there. Without the trigger the change and exactly one
//! entry are there.

use std::collections::HashMap;
use std::fmt::Debug;
use std::future::Future;
use std::time::{Duration, Instant};

mod common;

use common::{admin, fast, import_mp_users, oa_account, order_status_values, sim_account};
use common::{linked_accounts, order_status_preset, start_sim, sync_followers, template_ref};
use common::{values, Dispatcher};
use engine::accounts::vault::{self, MasterKey};
use engine::accounts::{AccountChanges, AccountKind, NewAccount, Secret};
use engine::audit::Actor;
use engine::db::Db;
use engine::followers::sync::{SyncProgress, SyncState};
use engine::jobs::{JobState, PauseReason, RecipientSource};
use engine::staff::sessions::{Sessions, STAFF_ID_KEY};
use engine::templates::presets::PresetInput;
use engine::testing::TestDb;
use engine::{on_both_databases, on_db, Engine, Error, Role};
use model::{AuditAction, Lang};
use tower_sessions::cookie::time::{Duration as SessionTtl, OffsetDateTime};
use tower_sessions::session::{Id, Record};
use tower_sessions::SessionStore;
use wechat_sim::{FaultConfig, SimConfig};

const PW: &str = "first-password-1";
const IP: &str = "203.0.113.9";
const INJECTED: &str = "injected by audit_tx";

/// The name of the trigger that refuses `action`.
fn trigger(action: &str) -> String {
    format!("audit_tx_refuse_{}", action.replace('.', "_"))
}

/// Makes the audit log refuse entries of `action`, with a trigger of the test's own (beside the
/// migrations' triggers that refuse UPDATE and DELETE).
async fn refuse(engine: &Engine, action: &str) {
    let name = trigger(action);
    match engine.db() {
        Db::Sqlite(pool) => {
            sqlx::query(&format!(
                "CREATE TRIGGER {name} BEFORE INSERT ON audit_log \
                 WHEN NEW.action = '{action}' BEGIN SELECT RAISE(ABORT, '{INJECTED}'); END"
            ))
            .execute(pool)
            .await
            .unwrap();
        }
        Db::Postgres(pool) => {
            sqlx::query(&format!(
                "CREATE OR REPLACE FUNCTION audit_tx_refuse() RETURNS trigger LANGUAGE plpgsql \
                 AS $$ BEGIN RAISE EXCEPTION '{INJECTED}'; END $$"
            ))
            .execute(pool)
            .await
            .unwrap();
            sqlx::query(&format!(
                "CREATE TRIGGER {name} BEFORE INSERT ON audit_log FOR EACH ROW \
                 WHEN (NEW.action = '{action}') EXECUTE FUNCTION audit_tx_refuse()"
            ))
            .execute(pool)
            .await
            .unwrap();
        }
    }
}

/// Drops the trigger of [`refuse`]: the log accepts `action` again.
async fn accept(engine: &Engine, action: &str) {
    let name = trigger(action);
    let sql = match engine.db() {
        Db::Sqlite(_) => format!("DROP TRIGGER {name}"),
        Db::Postgres(_) => format!("DROP TRIGGER {name} ON audit_log"),
    };
    on_db!(engine.db(), |pool| sqlx::query(&sql)
        .execute(pool)
        .await
        .map(|_| ()))
    .unwrap();
}

/// How many entries of `action` the log holds.
async fn entries(engine: &Engine, action: &str) -> usize {
    engine
        .audit_recent(Some(action), 10_000)
        .await
        .unwrap()
        .len()
}

/// The newest entry of `action`: its target and detail.
async fn last_entry(engine: &Engine, action: &str) -> (String, serde_json::Value) {
    let entry = engine
        .audit_recent(Some(action), 1)
        .await
        .unwrap()
        .pop()
        .unwrap_or_else(|| panic!("no {action} entry"));
    (entry.target, serde_json::from_str(&entry.detail).unwrap())
}

/// Runs `change` while the audit log refuses `action`: the call fails with the injected error
/// and writes no entry of `action`. (The change is lazy: nothing runs before the trigger is in.)
async fn refused<T: Debug>(
    engine: &Engine,
    action: &str,
    change: impl Future<Output = Result<T, Error>>,
) {
    let before = entries(engine, action).await;
    refuse(engine, action).await;
    let result = change.await;
    accept(engine, action).await;
    match result {
        Err(e) if e.to_string().contains(INJECTED) => {}
        other => panic!("{action}: expected the injected failure, got {other:?}"),
    }
    assert_eq!(entries(engine, action).await, before, "{action}");
}

/// Runs `change` with the audit log accepting everything: it succeeds with one more entry of
/// `action`. Returns its result.
async fn recorded<T: Debug>(
    engine: &Engine,
    action: &str,
    change: impl Future<Output = Result<T, Error>>,
) -> T {
    let before = entries(engine, action).await;
    let result = change.await.unwrap_or_else(|e| panic!("{action}: {e:?}"));
    assert_eq!(entries(engine, action).await, before + 1, "{action}");
    result
}

async fn scalar(engine: &Engine, sql: &str, id: i64) -> i64 {
    on_db!(engine.db(), |pool| sqlx::query_scalar::<_, i64>(sql)
        .bind(id)
        .fetch_one(pool)
        .await)
    .unwrap()
}

/// A live session of `staff_id`, as the app stores it at login.
async fn session_of(store: &Sessions, staff_id: i64) -> Id {
    let mut data = HashMap::new();
    data.insert(STAFF_ID_KEY.to_owned(), serde_json::json!(staff_id));
    let mut record = Record {
        id: Id::default(),
        data,
        expiry_date: OffsetDateTime::now_utc() + SessionTtl::hours(1),
    };
    store.create(&mut record).await.unwrap();
    record.id
}

async fn live(store: &Sessions, id: &Id) -> bool {
    store.load(id).await.unwrap().is_some()
}

async fn role_of(engine: &Engine, id: i64) -> Role {
    engine.staff_member(id).await.unwrap().unwrap().role
}

async fn disabled(engine: &Engine, id: i64) -> bool {
    engine.staff_member(id).await.unwrap().unwrap().disabled
}

// Staff, profile and settings ────────────────────────────────────────────────────────────────

async fn staff_profile_and_settings(db: TestDb) {
    let engine = Engine::open(&db.url).await.unwrap();
    let store = Sessions::open(engine.db()).await.unwrap();

    // setup.first_admin: the admin and the used-up link go with the entry.
    let token = engine.issue_setup_token().await.unwrap().unwrap();
    refused(
        &engine,
        "setup.first_admin",
        engine.complete_setup(&token, "boss", PW, IP),
    )
    .await;
    assert_eq!(engine.staff_count().await.unwrap(), 0);
    assert!(engine.setup_token_valid(&token).await.unwrap());
    let boss = recorded(
        &engine,
        "setup.first_admin",
        engine.complete_setup(&token, "boss", PW, IP),
    )
    .await;
    assert_eq!(engine.staff_count().await.unwrap(), 1);
    let by_boss = Actor::staff(boss.id, "boss", IP);

    // staff.create
    let create = || engine.create_staff(&by_boss, "ops.li", PW, Role::Operator);
    refused(&engine, "staff.create", create()).await;
    assert_eq!(engine.staff_count().await.unwrap(), 1);
    let ops = recorded(&engine, "staff.create", create()).await;
    assert_eq!(engine.staff_count().await.unwrap(), 2);

    // login.success: the login time goes with the entry.
    let last_login = |id| {
        let engine = engine.clone();
        async move {
            engine
                .staff_member(id)
                .await
                .unwrap()
                .unwrap()
                .last_login_ms
        }
    };
    refused(&engine, "login.success", engine.login("ops.li", PW, IP)).await;
    assert_eq!(last_login(ops.id).await, None);
    recorded(&engine, "login.success", engine.login("ops.li", PW, IP)).await;
    assert!(last_login(ops.id).await.is_some());

    // profile.lang: the language goes with the entry; choosing the same one again is no change.
    let lang_of = |id| {
        let engine = engine.clone();
        async move {
            let staff = engine.staff_by_id(id).await.unwrap().unwrap();
            staff.lang
        }
    };
    let to_en = || engine.set_staff_lang(&by_boss, ops.id, Lang::En);
    refused(&engine, "profile.lang", to_en()).await;
    assert_eq!(lang_of(ops.id).await, Lang::Zh);
    recorded(&engine, "profile.lang", to_en()).await;
    assert_eq!(lang_of(ops.id).await, Lang::En);
    to_en().await.unwrap();
    assert_eq!(
        entries(&engine, "profile.lang").await,
        1,
        "no change, no entry"
    );

    // staff.role
    let promote = || engine.set_staff_role(&by_boss, ops.id, Role::Admin);
    refused(&engine, "staff.role", promote()).await;
    assert_eq!(role_of(&engine, ops.id).await, Role::Operator);
    recorded(&engine, "staff.role", promote()).await.unwrap();
    assert_eq!(role_of(&engine, ops.id).await, Role::Admin);

    // staff.disable: the sessions end with it, or stay with it.
    let phone = session_of(&store, ops.id).await;
    let disable = || engine.set_staff_disabled(&by_boss, ops.id, true);
    refused(&engine, "staff.disable", disable()).await;
    assert!(!disabled(&engine, ops.id).await);
    assert!(live(&store, &phone).await, "the session stays");
    recorded(&engine, "staff.disable", disable()).await.unwrap();
    assert!(disabled(&engine, ops.id).await);
    assert!(!live(&store, &phone).await);
    assert_eq!(
        last_entry(&engine, "staff.disable").await.1["sessions_ended"],
        1
    );

    // staff.enable
    let enable = || engine.set_staff_disabled(&by_boss, ops.id, false);
    refused(&engine, "staff.enable", enable()).await;
    assert!(disabled(&engine, ops.id).await);
    recorded(&engine, "staff.enable", enable()).await.unwrap();
    assert!(!disabled(&engine, ops.id).await);

    // staff.password_reset: the old password and the sessions stay, or go.
    let laptop = session_of(&store, ops.id).await;
    let reset = || engine.reset_staff_password(&by_boss, ops.id);
    refused(&engine, "staff.password_reset", reset()).await;
    engine.login("ops.li", PW, IP).await.unwrap();
    assert!(live(&store, &laptop).await);
    let generated = recorded(&engine, "staff.password_reset", reset())
        .await
        .unwrap();
    engine.login("ops.li", &generated, IP).await.unwrap();
    assert!(!live(&store, &laptop).await);
    assert_eq!(
        last_entry(&engine, "staff.password_reset").await.1["sessions_ended"],
        1
    );

    // profile.password_change: the caller's session stays, the other one ends with it.
    let me = Actor::staff(ops.id, "ops.li", IP);
    let (here, elsewhere) = (
        session_of(&store, ops.id).await,
        session_of(&store, ops.id).await,
    );
    let keep = here.to_string();
    let change =
        || engine.change_own_password(&me, ops.id, &generated, "second-password-2", Some(&keep));
    refused(&engine, "profile.password_change", change()).await;
    engine.login("ops.li", &generated, IP).await.unwrap();
    assert!(live(&store, &elsewhere).await);
    recorded(&engine, "profile.password_change", change()).await;
    engine
        .login("ops.li", "second-password-2", IP)
        .await
        .unwrap();
    assert!(live(&store, &here).await && !live(&store, &elsewhere).await);
    assert_eq!(
        last_entry(&engine, "profile.password_change").await.1["other_sessions_ended"],
        1
    );

    // settings.approval_threshold
    let set = || engine.set_approval_threshold(&by_boss, 5);
    refused(&engine, "settings.approval_threshold", set()).await;
    assert_eq!(
        engine.approval_threshold().await.unwrap(),
        engine::settings::DEFAULT_APPROVAL_THRESHOLD
    );
    recorded(&engine, "settings.approval_threshold", set()).await;
    assert_eq!(engine.approval_threshold().await.unwrap(), 5);

    // settings.time_zone
    let set = || engine.set_time_zone(&by_boss, "Asia/Tokyo");
    refused(&engine, "settings.time_zone", set()).await;
    assert_eq!(engine.time_zone().await.unwrap().name(), "Asia/Shanghai");
    recorded(&engine, "settings.time_zone", set()).await;
    assert_eq!(engine.time_zone().await.unwrap().name(), "Asia/Tokyo");
}
on_both_databases!(staff_profile_and_settings);

// Accounts, keys, Mini Program keys and users ──────────────────────────────────────────────

fn account(kind: AccountKind, appid: &str, linked: Option<i64>) -> NewAccount {
    NewAccount {
        kind,
        name: format!("账号 {appid}"),
        appid: appid.into(),
        secret: Secret::new("0123456789abcdef0123456789abcdef"),
        callback_token: Secret::default(),
        encoding_aes_key: Secret::default(),
        api_base: "http://127.0.0.1:9".into(),
        linked_account_id: linked,
        sandbox: false,
    }
}

async fn stored_secret(engine: &Engine, id: i64) -> String {
    on_db!(engine.db(), |pool| sqlx::query_scalar::<_, String>(
        "SELECT secret FROM accounts WHERE id = $1"
    )
    .bind(id)
    .fetch_one(pool)
    .await)
    .unwrap()
}

async fn accounts_keys_and_mini_programs(db: TestDb) {
    let engine = Engine::open(&db.url).await.unwrap();
    let cli = Actor::cli();
    const OA: &str = "wx00000000000000a1";
    const MP: &str = "wx00000000000000b2";
    const GONE: &str = "wx00000000000000c3";

    // account.create (the token row and the link go with it).
    let create = || engine.create_account(&cli, account(AccountKind::Oa, OA, None));
    refused(&engine, "account.create", create()).await;
    assert!(engine.account_by_appid(OA).await.unwrap().is_none());
    let oa = recorded(&engine, "account.create", create()).await;
    let mp = engine
        .create_account(&cli, account(AccountKind::Mp, MP, Some(oa.id)))
        .await
        .unwrap();

    // account.update
    let rename = || {
        let changes = AccountChanges {
            name: Some("新名字".into()),
            ..AccountChanges::default()
        };
        engine.update_account(&cli, oa.id, changes)
    };
    refused(&engine, "account.update", rename()).await;
    assert_eq!(engine.account(oa.id).await.unwrap().unwrap().name, oa.name);
    recorded(&engine, "account.update", rename()).await;
    assert_eq!(engine.account(oa.id).await.unwrap().unwrap().name, "新名字");

    // account.delete
    let gone = engine
        .create_account(&cli, account(AccountKind::Oa, GONE, None))
        .await
        .unwrap();
    refused(
        &engine,
        "account.delete",
        engine.delete_account(&cli, gone.id),
    )
    .await;
    assert!(engine.account(gone.id).await.unwrap().is_some());
    recorded(
        &engine,
        "account.delete",
        engine.delete_account(&cli, gone.id),
    )
    .await;
    assert!(engine.account(gone.id).await.unwrap().is_none());

    // profile.openid, bound then unbound.
    let staff = engine
        .create_staff(&cli, "ops.li", PW, Role::Operator)
        .await
        .unwrap();
    let me = Actor::staff(staff.id, "ops.li", IP);
    let openid = "oAbCdEfGhIjKlMnOpQrStUvWxYz0";
    let bind = |openid| engine.set_staff_openid(&me, staff.id, &oa, openid);
    refused(&engine, "profile.openid", bind(openid)).await;
    assert_eq!(engine.staff_openid(staff.id, oa.id).await.unwrap(), None);
    recorded(&engine, "profile.openid", bind(openid)).await;
    assert_eq!(
        engine
            .staff_openid(staff.id, oa.id)
            .await
            .unwrap()
            .as_deref(),
        Some(openid)
    );
    refused(&engine, "profile.openid", bind("")).await;
    assert!(engine
        .staff_openid(staff.id, oa.id)
        .await
        .unwrap()
        .is_some());
    recorded(&engine, "profile.openid", bind("")).await;
    assert_eq!(engine.staff_openid(staff.id, oa.id).await.unwrap(), None);

    // mp_api_key.create and mp_api_key.revoke
    refused(
        &engine,
        "mp_api_key.create",
        engine.create_mp_api_key(&cli, mp.id),
    )
    .await;
    assert!(engine.list_mp_api_keys(mp.id).await.unwrap().is_empty());
    let (key, info) = recorded(
        &engine,
        "mp_api_key.create",
        engine.create_mp_api_key(&cli, mp.id),
    )
    .await;
    assert_eq!(engine.list_mp_api_keys(mp.id).await.unwrap().len(), 1);
    engine.verify_mp_api_key(MP, &key).await.unwrap();
    refused(
        &engine,
        "mp_api_key.revoke",
        engine.revoke_mp_api_key(&cli, info.id),
    )
    .await;
    engine.verify_mp_api_key(MP, &key).await.unwrap();
    recorded(
        &engine,
        "mp_api_key.revoke",
        engine.revoke_mp_api_key(&cli, info.id),
    )
    .await;
    assert!(matches!(
        engine.verify_mp_api_key(MP, &key).await,
        Err(Error::InvalidCredentials)
    ));

    // send_key.create and send_key.revoke
    let all = || model::send_api::PresetScope::All;
    refused(
        &engine,
        "send_key.create",
        engine.create_send_key(&cli, oa.id, "订单系统", all(), 10),
    )
    .await;
    assert!(engine.send_keys(oa.id).await.unwrap().is_empty());
    let (secret, send_key) = recorded(
        &engine,
        "send_key.create",
        engine.create_send_key(&cli, oa.id, "订单系统", all(), 10),
    )
    .await;
    assert_eq!(engine.send_keys(oa.id).await.unwrap().len(), 1);
    let hook = || engine.set_send_key_webhook(&cli, send_key.id, Some("https://o.example.com/h"));
    refused(&engine, "send_key.webhook", hook()).await;
    let unset = engine.send_key(send_key.id).await.unwrap().unwrap();
    assert!(unset.webhook_url.is_none(), "no webhook without its entry");
    recorded(&engine, "send_key.webhook", hook()).await;
    refused(
        &engine,
        "send_key.revoke",
        engine.revoke_send_key(&cli, send_key.id),
    )
    .await;
    let live = engine.send_key_by_secret(&secret).await.unwrap().unwrap();
    assert!(
        live.revoked_at_ms.is_none(),
        "not revoked without its entry"
    );
    recorded(
        &engine,
        "send_key.revoke",
        engine.revoke_send_key(&cli, send_key.id),
    )
    .await;
    let revoked = engine.send_key_by_secret(&secret).await.unwrap().unwrap();
    assert!(revoked.revoked_at_ms.is_some());

    // mp_users.import: several batches, all or nothing.
    let csv: String = (0..1234).map(|i| format!("o{i:027}\n")).collect();
    let import = || engine.import_mp_users_csv(&cli, mp.id, &csv);
    refused(&engine, "mp_users.import", import()).await;
    assert_eq!(engine.count_mp_users(mp.id).await.unwrap(), 0);
    let report = recorded(&engine, "mp_users.import", import()).await;
    assert_eq!((report.inserted, report.updated), (1234, 0));
    assert_eq!(engine.count_mp_users(mp.id).await.unwrap(), 1234);

    // keys.encrypt_plaintext: a secret an earlier version stored in plaintext is sealed when an
    // engine opens the database.
    let plain = "fedcba9876543210fedcba9876543210";
    on_db!(engine.db(), |pool| sqlx::query(
        "UPDATE accounts SET secret = $1 WHERE id = $2"
    )
    .bind(plain)
    .bind(mp.id)
    .execute(pool)
    .await
    .map(|_| ()))
    .unwrap();
    refused(&engine, "keys.encrypt_plaintext", Engine::open(&db.url)).await;
    assert_eq!(stored_secret(&engine, mp.id).await, plain);
    let reopened = recorded(&engine, "keys.encrypt_plaintext", Engine::open(&db.url)).await;
    assert!(vault::is_encrypted(&stored_secret(&engine, mp.id).await));
    assert_eq!(
        reopened
            .account(mp.id)
            .await
            .unwrap()
            .unwrap()
            .secret
            .expose(),
        plain
    );

    // keys.rotate
    let before = stored_secret(&engine, oa.id).await;
    let new_key = MasterKey::generate();
    refused(
        &engine,
        "keys.rotate",
        engine.rotate_master_key(&cli, &new_key),
    )
    .await;
    assert_eq!(stored_secret(&engine, oa.id).await, before);
    assert!(
        engine.account(oa.id).await.unwrap().is_some(),
        "the old key reads it"
    );
    let rotation = recorded(
        &engine,
        "keys.rotate",
        engine.rotate_master_key(&cli, &new_key),
    )
    .await;
    assert_eq!(rotation.accounts, 2);
    assert!(stored_secret(&engine, oa.id)
        .await
        .starts_with(&format!("v1:{}:", new_key.id())));
}
on_both_databases!(accounts_keys_and_mini_programs);

// Templates and presets ─────────────────────────────────────────────────────────────────────

async fn preset_names(engine: &Engine, account_id: i64) -> Vec<String> {
    let mut names: Vec<String> = engine
        .presets(account_id)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.preset.name)
        .collect();
    names.sort();
    names
}

async fn templates_and_presets(db: TestDb) {
    let admin = admin();
    let sim = start_sim(SimConfig::default()).await;
    let engine = Engine::open(&db.url).await.unwrap();
    let oa = oa_account(&engine, &sim).await;

    // template.sync: a sync whose entry fails stores nothing (and says so as sync_failed).
    refused(&engine, "template.sync", engine.sync_templates(&admin, &oa)).await;
    assert!(engine.templates_of(oa.id, true).await.unwrap().is_empty());
    assert!(engine.template_sync_state(oa.id).await.unwrap().is_none());
    assert_eq!(entries(&engine, "template.sync_failed").await, 1);
    let report = recorded(&engine, "template.sync", engine.sync_templates(&admin, &oa)).await;
    assert!(report.added > 0);
    assert_eq!(
        engine.templates_of(oa.id, true).await.unwrap().len() as i64,
        report.added
    );
    assert!(engine.template_sync_state(oa.id).await.unwrap().is_some());
    assert_eq!(
        last_entry(&engine, "template.sync").await.1["added"],
        report.added
    );

    let template = template_ref(&engine, &oa, "订单状态通知").await;
    let input = |name: &str, body| PresetInput {
        name: name.into(),
        template_ref: template,
        body,
    };

    // preset.create
    let create = || engine.create_preset(&admin, &oa, input("发货通知", order_status_values()));
    refused(&engine, "preset.create", create()).await;
    assert!(preset_names(&engine, oa.id).await.is_empty());
    let preset = recorded(&engine, "preset.create", create()).await;
    assert_eq!(preset_names(&engine, oa.id).await, vec!["发货通知"]);

    // preset.update
    let update = || {
        let body = values(&[
            ("thing1", "机械键盘"),
            ("character_string2", "20231018123457"),
            ("time3", "2023年10月18日 15:30"),
            ("amount4", "¥299.00"),
            ("const5", "已发货"),
        ]);
        engine.update_preset(&admin, &oa, preset.id, input("到货通知", body))
    };
    refused(&engine, "preset.update", update()).await;
    assert_eq!(preset_names(&engine, oa.id).await, vec!["发货通知"]);
    recorded(&engine, "preset.update", update()).await;
    assert_eq!(preset_names(&engine, oa.id).await, vec!["到货通知"]);

    // preset.duplicate
    let duplicate = || engine.duplicate_preset(&admin, &oa, preset.id);
    refused(&engine, "preset.duplicate", duplicate()).await;
    assert_eq!(preset_names(&engine, oa.id).await.len(), 1);
    let copy = recorded(&engine, "preset.duplicate", duplicate()).await;
    assert_eq!(
        preset_names(&engine, oa.id).await,
        vec!["到货通知", "到货通知 副本"]
    );

    // preset.delete
    let delete = || engine.delete_preset(&admin, &oa, copy.id);
    refused(&engine, "preset.delete", delete()).await;
    assert_eq!(preset_names(&engine, oa.id).await.len(), 2);
    recorded(&engine, "preset.delete", delete()).await;
    assert_eq!(preset_names(&engine, oa.id).await, vec!["到货通知"]);
}
on_both_databases!(templates_and_presets);

// Send jobs ─────────────────────────────────────────────────────────────────────────────────

async fn job_count(engine: &Engine, account_id: i64) -> usize {
    engine.jobs(account_id, 100).await.unwrap().len()
}

async fn job_state(engine: &Engine, id: i64) -> JobState {
    engine.job(id).await.unwrap().unwrap().state
}

async fn rows_in(engine: &Engine, job_id: i64, state: &str) -> i64 {
    on_db!(engine.db(), |pool| sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM job_recipients WHERE job_id = $1 AND state = $2"
    )
    .bind(job_id)
    .bind(state)
    .fetch_one(pool)
    .await)
    .unwrap()
}

async fn send_jobs(db: TestDb) {
    let admin = admin();
    let sim = start_sim(SimConfig {
        followers: 40,
        mp_users: 10,
        ..SimConfig::default()
    })
    .await;
    let engine = Engine::open(&db.url).await.unwrap();
    let (oa, mp) = linked_accounts(&engine, &sim).await;
    import_mp_users(&engine, &sim, &mp).await;
    sync_followers(&engine, &oa).await;
    engine.sync_templates(&admin, &oa).await.unwrap();
    let preset = order_status_preset(&engine, &oa).await;
    let create = |actor: Actor, name: &'static str| {
        let (engine, oa) = (&engine, &oa);
        async move {
            engine
                .create_job(
                    &actor,
                    oa,
                    preset.id,
                    name,
                    &RecipientSource::AllSubscribed,
                    0,
                )
                .await
        }
    };

    // job.create, and job.start of a job that starts at once: no job without both.
    refused(&engine, "job.create", create(admin.clone(), "双十一")).await;
    refused(&engine, "job.start", create(admin.clone(), "双十一")).await;
    assert_eq!(job_count(&engine, oa.id).await, 0);
    assert_eq!(
        scalar(
            &engine,
            "SELECT COUNT(*) FROM job_recipients WHERE job_id >= $1",
            0
        )
        .await,
        0
    );
    let starts = entries(&engine, "job.start").await;
    let job = recorded(&engine, "job.create", create(admin.clone(), "双十一")).await;
    assert_eq!(entries(&engine, "job.start").await, starts + 1);
    assert_eq!(job_count(&engine, oa.id).await, 1);
    assert_eq!(job.state, JobState::Running);
    let pending = rows_in(&engine, job.id, "pending").await;
    assert_eq!(pending, 40);

    // job.pause and job.resume (no dispatcher: the job stays where it is put).
    let pause = || engine.pause_job(&admin, job.id);
    refused(&engine, "job.pause", pause()).await;
    assert_eq!(job_state(&engine, job.id).await, JobState::Running);
    recorded(&engine, "job.pause", pause()).await;
    assert_eq!(job_state(&engine, job.id).await, JobState::Paused);
    let resume = || engine.resume_job(&admin, job.id);
    refused(&engine, "job.resume", resume()).await;
    assert_eq!(job_state(&engine, job.id).await, JobState::Paused);
    recorded(&engine, "job.resume", resume()).await;
    assert_eq!(job_state(&engine, job.id).await, JobState::Running);

    // job.retry_failed: the failed rows stay failed, with no copy of their failure.
    on_db!(engine.db(), |pool| sqlx::query(
        "UPDATE job_recipients SET state = 'failed', errcode = 40003, errmsg = 'invalid openid', \
         completed_ms = 1 WHERE job_id = $1 AND seq <= 3"
    )
    .bind(job.id)
    .execute(pool)
    .await
    .map(|_| ()))
    .unwrap();
    let retry = || engine.retry_failed(&admin, job.id);
    refused(&engine, "job.retry_failed", retry()).await;
    assert_eq!(rows_in(&engine, job.id, "failed").await, 3);
    let copies = "SELECT COUNT(*) FROM recipient_failures WHERE job_id = $1";
    assert_eq!(scalar(&engine, copies, job.id).await, 0);
    assert_eq!(recorded(&engine, "job.retry_failed", retry()).await, 3);
    assert_eq!(rows_in(&engine, job.id, "failed").await, 0);
    assert_eq!(scalar(&engine, copies, job.id).await, 3);

    // job.cancel
    let cancel = || engine.cancel_job(&admin, job.id);
    refused(&engine, "job.cancel", cancel()).await;
    assert_eq!(job_state(&engine, job.id).await, JobState::Running);
    assert_eq!(rows_in(&engine, job.id, "pending").await, pending);
    recorded(&engine, "job.cancel", cancel()).await;
    assert_eq!(job_state(&engine, job.id).await, JobState::Cancelled);
    assert_eq!(rows_in(&engine, job.id, "pending").await, 0);
    assert_eq!(
        last_entry(&engine, "job.cancel").await.1["cancelled_rows"],
        pending
    );

    // job.reschedule of a scheduled job, and job.start when the system starts it at its time.
    let start = engine::now_ms() + 600_000;
    let scheduled = engine
        .create_job_with(
            &admin,
            &oa,
            &engine::jobs::NewJob {
                start_at_ms: Some(start),
                name: "明早".into(),
                channel: model::Channel::Template,
                preset_id: Some(preset.id),
                mp_preset_id: None,
                source: RecipientSource::AllSubscribed,
                rate_limit: 0,
            },
        )
        .await
        .unwrap();
    let change = engine::jobs::schedule::JobSchedule {
        start_at_ms: start + 600_000,
        name: "明早十点".into(),
        rate_limit: 0,
    };
    let reschedule = || engine.reschedule_job(&admin, scheduled.id, &change);
    refused(&engine, "job.reschedule", reschedule()).await;
    let unchanged = engine.job(scheduled.id).await.unwrap().unwrap();
    assert_eq!(
        (unchanged.start_at_ms, unchanged.name.as_str()),
        (Some(start), "明早")
    );
    recorded(&engine, "job.reschedule", reschedule()).await;
    let due = || engine.start_due_jobs(start + 600_000);
    refused(&engine, "job.start", due()).await;
    assert_eq!(job_state(&engine, scheduled.id).await, JobState::Paused);
    assert_eq!(
        recorded(&engine, "job.start", due()).await,
        vec![scheduled.id]
    );
    assert_eq!(job_state(&engine, scheduled.id).await, JobState::Running);
    engine.cancel_job(&admin, scheduled.id).await.unwrap();

    // schedule.create, schedule.run (a run's move to its next time), pause, resume, delete.
    let weekly = engine::schedules::NewSchedule {
        name: "每周提醒".into(),
        channel: model::Channel::Template,
        preset_id: Some(preset.id),
        mp_preset_id: None,
        source: RecipientSource::AllSubscribed,
        rhythm: model::schedule::Rhythm::Daily {
            at: model::schedule::TimeOfDay { hour: 3, minute: 0 },
        },
        rate_limit: 0,
    };
    let schedule_rows = |engine: &Engine| {
        let engine = engine.clone();
        async move { engine.schedules(oa.id).await.unwrap().len() }
    };
    refused(
        &engine,
        "schedule.create",
        engine.create_schedule(&admin, &oa, &weekly),
    )
    .await;
    assert_eq!(schedule_rows(&engine).await, 0);
    let schedule = recorded(
        &engine,
        "schedule.create",
        engine.create_schedule(&admin, &oa, &weekly),
    )
    .await;
    let next_run = |engine: &Engine| {
        let engine = engine.clone();
        async move {
            engine
                .schedule(schedule.id)
                .await
                .unwrap()
                .unwrap()
                .next_run_ms
        }
    };
    let first_run = schedule.next_run_ms;
    let run = || engine.run_due_schedules(first_run);
    refused(&engine, "schedule.run", run()).await;
    assert_eq!(next_run(&engine).await, first_run, "not moved on");
    // The run's job was made; the next pass finds it and moves on without a second one.
    recorded(&engine, "schedule.run", run()).await;
    assert!(next_run(&engine).await > first_run);
    let runs = engine.schedule_jobs(schedule.id, 10).await.unwrap();
    assert_eq!(runs.len(), 1);
    engine.cancel_job(&admin, runs[0].id).await.unwrap();
    for (action, code) in [
        (model::schedule::ScheduleAction::Pause, "schedule.pause"),
        (model::schedule::ScheduleAction::Resume, "schedule.resume"),
    ] {
        let control = || engine.control_schedule(&admin, schedule.id, action);
        let paused = engine.schedule(schedule.id).await.unwrap().unwrap().paused;
        refused(&engine, code, control()).await;
        assert_eq!(
            engine.schedule(schedule.id).await.unwrap().unwrap().paused,
            paused
        );
        recorded(&engine, code, control()).await;
        assert_ne!(
            engine.schedule(schedule.id).await.unwrap().unwrap().paused,
            paused
        );
    }
    let delete =
        || engine.control_schedule(&admin, schedule.id, model::schedule::ScheduleAction::Delete);
    refused(&engine, "schedule.delete", delete()).await;
    assert_eq!(schedule_rows(&engine).await, 1);
    recorded(&engine, "schedule.delete", delete()).await;
    assert_eq!(schedule_rows(&engine).await, 0);

    // settings.send_rules (set back to off: the cases below send).
    let rules = model::send_rules::SendRules {
        quiet_hours: model::send_rules::QuietHours::parse("22:00", "08:00").ok(),
        daily_cap: Some(2),
    };
    let set = || engine.set_send_rules(&admin, &oa, rules);
    refused(&engine, "settings.send_rules", set()).await;
    assert_eq!(engine.send_rules(oa.id).await.unwrap(), Default::default());
    recorded(&engine, "settings.send_rules", set()).await;
    assert_eq!(engine.send_rules(oa.id).await.unwrap(), rules);
    engine
        .set_send_rules(&admin, &oa, Default::default())
        .await
        .unwrap();

    // job.approve, and the job.start that goes with it.
    engine.set_approval_threshold(&admin, 10).await.unwrap();
    let creator = Actor::staff(7, "operator", IP);
    let big = create(creator, "大任务").await.unwrap();
    assert!(big.awaiting_approval());
    let approve = || engine.approve_job(&admin, big.id);
    refused(&engine, "job.approve", approve()).await;
    refused(&engine, "job.start", approve()).await;
    let waiting = engine.job(big.id).await.unwrap().unwrap();
    assert!(waiting.awaiting_approval() && waiting.approved_by.is_none());
    let starts = entries(&engine, "job.start").await;
    let approved = recorded(&engine, "job.approve", approve()).await;
    assert_eq!(entries(&engine, "job.start").await, starts + 1);
    assert_eq!(approved.state, JobState::Running);
    assert_eq!(approved.approved_by.as_deref(), Some("admin"));
}
on_both_databases!(send_jobs);

/// Waits (at most 30 s) for `until` on the job's progress.
async fn wait_job(
    engine: &Engine,
    job_id: i64,
    until: impl Fn(&engine::jobs::JobProgress) -> bool,
) -> engine::jobs::JobProgress {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let p = engine.job_progress(job_id).await.unwrap().unwrap();
        if until(&p) {
            return p;
        }
        assert!(Instant::now() < deadline, "timed out: {p:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The dispatcher's own entries: a job that ends (`job.finish`) and one the daily quota pauses
/// (`job.pause` by the system) stay running until their entry can be written.
async fn dispatcher_changes(db: TestDb) {
    let sim = start_sim(SimConfig {
        followers: 60,
        mp_users: 10,
        template_send_quota: 80,
        ..SimConfig::default()
    })
    .await;
    let engine = Engine::open(&db.url).await.unwrap();
    let (oa, mp) = linked_accounts(&engine, &sim).await;
    import_mp_users(&engine, &sim, &mp).await;
    sync_followers(&engine, &oa).await;
    engine.sync_templates(&admin(), &oa).await.unwrap();
    let preset = order_status_preset(&engine, &oa).await;
    let first_40: Vec<String> = (0..40).filter_map(|i| sim.follower_openid(i)).collect();
    let _d = Dispatcher(engine.start_dispatcher(fast()));

    // job.finish
    refuse(&engine, "job.finish").await;
    let job = engine
        .create_job(
            &admin(),
            &oa,
            preset.id,
            "四十人",
            &RecipientSource::Openids(first_40),
            0,
        )
        .await
        .unwrap();
    wait_job(&engine, job.id, |p| {
        p.sent == 40 && p.pending + p.sending == 0
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        job_state(&engine, job.id).await,
        JobState::Running,
        "not done without its entry"
    );
    assert_eq!(entries(&engine, "job.finish").await, 0);
    accept(&engine, "job.finish").await;
    wait_job(&engine, job.id, |p| p.job.state == JobState::Done).await;
    assert_eq!(entries(&engine, "job.finish").await, 1);
    let (target, detail) = last_entry(&engine, "job.finish").await;
    assert_eq!(target, "四十人");
    assert_eq!(
        detail,
        serde_json::json!({ "id": job.id, "sent": 40, "failed": 0, "skipped": 0, "unknown": 0 })
    );

    // job.pause by the system: 60 more messages against 40 left of the day's 80.
    refuse(&engine, "job.pause").await;
    let all = engine
        .create_job(
            &admin(),
            &oa,
            preset.id,
            "全部",
            &RecipientSource::AllSubscribed,
            0,
        )
        .await
        .unwrap();
    wait_job(&engine, all.id, |p| p.sent == 40).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        job_state(&engine, all.id).await,
        JobState::Running,
        "not paused without its entry"
    );
    assert_eq!(entries(&engine, "job.pause").await, 0);
    accept(&engine, "job.pause").await;
    let p = wait_job(&engine, all.id, |p| p.job.state == JobState::Paused).await;
    assert_eq!(p.job.pause_reason, Some(PauseReason::WeChat(45009)));
    let pauses = engine.audit_recent(Some("job.pause"), 10).await.unwrap();
    assert_eq!(pauses.len(), 1);
    assert_eq!(pauses[0].actor, "system");
}
on_both_databases!(dispatcher_changes);

// Follower syncs ────────────────────────────────────────────────────────────────────────────

async fn run_state(engine: &Engine, run_id: i64) -> SyncProgress {
    engine.sync_run(run_id).await.unwrap().unwrap()
}

async fn wait_for_page(engine: &Engine, run_id: i64) {
    for _ in 0..3000 {
        let p = run_state(engine, run_id).await;
        if p.pages_done >= 1 {
            return;
        }
        assert!(!p.is_finished(), "the run ended too early: {p:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the run never listed a page");
}

async fn follower_syncs(db: TestDb) {
    let admin = admin();
    let engine = Engine::open(&db.url).await.unwrap();

    // followers.sync.start and followers.sync.finish (start_sync runs the run in a task of its
    // own: entries are counted once the run has ended).
    let sim = start_sim(SimConfig {
        followers: 100,
        ..SimConfig::default()
    })
    .await;
    let oa = oa_account(&engine, &sim).await;
    let start = || engine.start_sync(&admin, oa.id);
    refused(&engine, "followers.sync.start", start()).await;
    assert!(engine.sync_progress(oa.id).await.unwrap().is_none());
    refuse(&engine, "followers.sync.finish").await;
    let run_id = recorded(&engine, "followers.sync.start", start()).await;
    let p = engine.run_sync(run_id).await.unwrap();
    accept(&engine, "followers.sync.finish").await;
    assert_eq!(
        p.state,
        SyncState::Failed,
        "not done without its entry: {p:?}"
    );
    assert_eq!(entries(&engine, "followers.sync.finish").await, 0);
    assert_eq!(
        entries(&engine, "followers.sync.fail").await,
        1,
        "the run failed for it"
    );
    let run_id = start().await.unwrap();
    let p = engine.run_sync(run_id).await.unwrap();
    assert_eq!((p.state, p.listed), (SyncState::Done, 100));
    assert_eq!(entries(&engine, "followers.sync.finish").await, 1);
    assert_eq!(
        last_entry(&engine, "followers.sync.finish").await.1["listed"],
        100
    );

    // followers.sync.fail: a run that cannot record its failure stays unfinished (it is
    // resumed once its lease lapses). The run is one nobody works on, as a crash leaves it.
    let wrong_sim = start_sim(SimConfig {
        oa_appid: "wx5e1a00000000c001".into(),
        followers: 10,
        ..SimConfig::default()
    })
    .await;
    let mut wrong = sim_account(&wrong_sim, AccountKind::Oa, "错误公众号", None);
    wrong.secret = Secret::new("0123456789abcdef0123456789abcdef");
    let wrong = engine.create_account(&admin, wrong).await.unwrap();
    let run_id: i64 = on_db!(engine.db(), |pool| sqlx::query_scalar(
        "INSERT INTO sync_runs (account_id, state, started_by, started_at_ms, updated_at_ms, \
         lease_owner, lease_until_ms) VALUES ($1, 'listing', 'admin', $2, $2, 'elsewhere', 0) \
         RETURNING id"
    )
    .bind(wrong.id)
    .bind(engine::now_ms())
    .fetch_one(pool)
    .await)
    .unwrap();
    // The runner answers with the error that failed the run, having logged the other one.
    let failures = entries(&engine, "followers.sync.fail").await;
    refuse(&engine, "followers.sync.fail").await;
    let err = engine.run_sync(run_id).await.unwrap_err();
    accept(&engine, "followers.sync.fail").await;
    assert!(err.to_string().contains("40125"), "{err:?}");
    assert!(!run_state(&engine, run_id).await.is_finished());
    assert_eq!(entries(&engine, "followers.sync.fail").await, failures);
    let p = recorded(&engine, "followers.sync.fail", engine.run_sync(run_id)).await;
    assert_eq!(p.state, SyncState::Failed);

    // followers.sync.cancel and followers.sync.cancelled
    let slow_sim = start_sim(SimConfig {
        oa_appid: "wx5e1a00000000d001".into(),
        followers: 25_001,
        faults: FaultConfig {
            latency_ms: 300,
            ..FaultConfig::default()
        },
        ..SimConfig::default()
    })
    .await;
    let slow = engine
        .create_account(
            &admin,
            sim_account(&slow_sim, AccountKind::Oa, "慢公众号", None),
        )
        .await
        .unwrap();
    refuse(&engine, "followers.sync.cancelled").await;
    let run_id = engine.start_sync(&admin, slow.id).await.unwrap();
    wait_for_page(&engine, run_id).await;
    let cancel = || engine.cancel_sync(&admin, slow.id);
    refused(&engine, "followers.sync.cancel", cancel()).await;
    assert!(!run_state(&engine, run_id).await.cancel_requested);
    recorded(&engine, "followers.sync.cancel", cancel()).await;
    let p = engine.run_sync(run_id).await.unwrap();
    accept(&engine, "followers.sync.cancelled").await;
    assert!(p.cancel_requested);
    assert_ne!(
        p.state,
        SyncState::Cancelled,
        "not cancelled without its entry: {p:?}"
    );
    assert_eq!(entries(&engine, "followers.sync.cancelled").await, 0);
    let run_id = engine.start_sync(&admin, slow.id).await.unwrap();
    wait_for_page(&engine, run_id).await;
    cancel().await.unwrap();
    let p = engine.run_sync(run_id).await.unwrap();
    assert_eq!(p.state, SyncState::Cancelled);
    assert_eq!(entries(&engine, "followers.sync.cancelled").await, 1);
}
on_both_databases!(follower_syncs);

/// Actions that record no change of the database (a refusal, a failure, an export, a call to
/// WeChat, a logout): written in a statement of their own, so they have no case above.
const NO_CHANGE: &[AuditAction] = &[
    AuditAction::LoginFailure,
    AuditAction::LoginThrottled,
    AuditAction::LoginDisabled,
    AuditAction::Logout,
    AuditAction::ProfilePasswordChangeFailed,
    AuditAction::AccountTestConnection,
    AuditAction::TemplateSyncFailed,
    AuditAction::PresetTestSend,
    AuditAction::FollowersExport,
    AuditAction::JobExport,
    AuditAction::SetupRefused,
    AuditAction::AuditExport,
];

/// Every action that records a change has its case in this file: a new action cannot be added
/// without one.
#[test]
fn every_change_action_has_a_case() {
    let this_file = include_str!("audit_tx.rs");
    let missing: Vec<&str> = AuditAction::ALL
        .iter()
        .filter(|a| !NO_CHANGE.contains(a))
        .map(|a| a.code())
        .filter(|code| !this_file.contains(&format!("\"{code}\"")))
        .collect();
    assert!(missing.is_empty(), "no transaction case for {missing:?}");
}
