//! What the engine's simulator tests share: the simulator's Official Account and its linked Mini
//! Program as accounts, the Mini Program's users, a follower sync, presets' values.
// Each test binary uses its own part of this module.
#![allow(dead_code)]

pub mod world;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use engine::accounts::{Account, AccountKind, NewAccount, Secret};
use engine::audit::Actor;
use engine::followers::sync::SyncState;
use engine::jobs::{DispatchConfig, JobState};
use engine::templates::presets::{Preset, PresetInput};
use engine::{on_db, Engine};
use message::{FieldValue, PresetBody};
use wechat_sim::{SimConfig, SimHandle};

/// The admin the tests act as.
pub fn admin() -> Actor {
    Actor::staff(1, "admin", "127.0.0.1")
}

/// A simulator on a free port.
pub async fn start_sim(config: SimConfig) -> SimHandle {
    wechat_sim::start(config, ([127, 0, 0, 1], 0).into())
        .await
        .expect("simulator starts")
}

/// The simulator's OA or MP as a new account, for a test to adjust before creating it.
pub fn sim_account(
    sim: &SimHandle,
    kind: AccountKind,
    name: &str,
    linked_account_id: Option<i64>,
) -> NewAccount {
    let cfg = sim.config();
    let (appid, secret) = match kind {
        AccountKind::Oa => (&cfg.oa_appid, &cfg.oa_secret),
        AccountKind::Mp => (&cfg.mp_appid, &cfg.mp_secret),
    };
    NewAccount {
        kind,
        name: name.into(),
        appid: appid.clone(),
        secret: Secret::new(secret.clone()),
        callback_token: Secret::default(),
        encoding_aes_key: Secret::default(),
        api_base: sim.base_url.clone(),
        linked_account_id,
        sandbox: false,
    }
}

/// The simulator's Official Account, as an account.
pub async fn oa_account(engine: &Engine, sim: &SimHandle) -> Account {
    engine
        .create_account(
            &Actor::cli(),
            sim_account(sim, AccountKind::Oa, "测试公众号", None),
        )
        .await
        .expect("OA created")
}

/// The simulator's Mini Program, linked to `oa`, as an account (no users yet).
pub async fn linked_mp(engine: &Engine, sim: &SimHandle, oa: &Account) -> Account {
    engine
        .create_account(
            &Actor::cli(),
            sim_account(sim, AccountKind::Mp, "测试小程序", Some(oa.id)),
        )
        .await
        .expect("MP created")
}

/// The simulator's OA and its linked MP, as accounts (the OA re-read, so it knows the link).
pub async fn linked_accounts(engine: &Engine, sim: &SimHandle) -> (Account, Account) {
    let oa = oa_account(engine, sim).await;
    let mp = linked_mp(engine, sim, &oa).await;
    let oa = engine.account(oa.id).await.unwrap().unwrap();
    (oa, mp)
}

/// Every user of the simulator's Mini Program, as the login API would have recorded them.
pub async fn import_mp_users(engine: &Engine, sim: &SimHandle, mp: &Account) {
    let users: Vec<(String, Option<String>)> = (0..sim.config().mp_users)
        .filter_map(|i| Some((sim.mp_openid(i)?, sim.mp_unionid(i))))
        .collect();
    on_db!(engine.db(), |pool| {
        let mut tx = pool.begin().await.unwrap();
        for (openid, unionid) in &users {
            sqlx::query(
                "INSERT INTO mp_users (account_id, openid, unionid, source, first_seen_ms) \
                 VALUES ($1, $2, $3, 'import', $4)",
            )
            .bind(mp.id)
            .bind(openid)
            .bind(unionid)
            .bind(engine::now_ms())
            .execute(&mut *tx)
            .await
            .unwrap();
        }
        tx.commit().await.unwrap()
    });
}

/// A full follower sync of the OA, run to the end.
pub async fn sync_followers(engine: &Engine, oa: &Account) {
    let run = engine.start_sync(&Actor::cli(), oa.id).await.unwrap();
    let p = engine.run_sync(run).await.unwrap();
    assert_eq!(p.state, SyncState::Done, "{p:?}");
}

/// The preset "发货通知" of the OA's (synced) template 订单状态通知, with
/// [`order_status_values`].
pub async fn order_status_preset(engine: &Engine, oa: &Account) -> Preset {
    let input = PresetInput {
        name: "发货通知".into(),
        template_ref: template_ref(engine, oa, "订单状态通知").await,
        body: order_status_values(),
    };
    engine.create_preset(&admin(), oa, input).await.unwrap()
}

/// A preset body with these values (no colors).
pub fn values(pairs: &[(&str, &str)]) -> PresetBody {
    PresetBody {
        values: pairs
            .iter()
            .map(|(k, v)| {
                (
                    (*k).to_owned(),
                    FieldValue {
                        value: (*v).to_owned(),
                        color: String::new(),
                    },
                )
            })
            .collect(),
        ..PresetBody::default()
    }
}

/// The stored id of the template titled `title`.
pub async fn template_ref(engine: &Engine, account: &Account, title: &str) -> i64 {
    engine
        .templates_of(account.id, true)
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.remote.title == title)
        .unwrap_or_else(|| panic!("template {title} stored"))
        .id
}

/// The simulator's 订单状态通知 (an OA category template), filled in validly.
pub fn order_status_values() -> PresetBody {
    values(&[
        ("thing1", "无线蓝牙耳机"),
        ("character_string2", "20231018123456"),
        ("time3", "2023年10月18日 14:30"),
        ("amount4", "¥199.00"),
        ("const5", "已发货"),
    ])
}

/// Aborts a dispatcher when the test ends.
pub struct Dispatcher(pub tokio::task::JoinHandle<()>);

impl Drop for Dispatcher {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A dispatcher that notices jobs within 20 ms and takes over lapsed rows after 5 s.
pub fn fast() -> DispatchConfig {
    DispatchConfig {
        concurrency: 32,
        batch: 100,
        lease_ms: 5_000,
        poll_ms: 20,
        ..DispatchConfig::default()
    }
}

/// Waits (at most a minute) for a job that several dispatchers share to finish, and returns
/// the lease owners seen holding its rows meanwhile.
pub async fn lease_owners_until_done(engine: &Engine, job_id: i64) -> HashSet<String> {
    let mut owners = HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let p = engine.job_progress(job_id).await.unwrap().unwrap();
        if p.job.state == JobState::Done {
            return owners;
        }
        assert!(Instant::now() < deadline, "the job never finished: {p:?}");
        let now: Vec<String> = on_db!(engine.db(), |pool| sqlx::query_scalar(
            "SELECT DISTINCT lease_owner FROM job_recipients \
             WHERE job_id = $1 AND state = 'sending'"
        )
        .bind(job_id)
        .fetch_all(pool)
        .await)
        .unwrap();
        owners.extend(now);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
