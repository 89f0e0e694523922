//! The token service against the WeChat simulator: one refresh for many callers and processes,
//! recovery from a token WeChat rejected, and errors recorded for the settings page.

use std::sync::Arc;

use engine::accounts::{AccountKind, NewAccount, Secret};
use engine::audit::Actor;
use engine::testing::TestDb;
use engine::{on_both_databases, on_db, Engine};
use wechat_sim::{SimConfig, SimHandle};

async fn sim() -> SimHandle {
    wechat_sim::start(
        SimConfig {
            followers: 50,
            mp_users: 10,
            ..SimConfig::default()
        },
        ([127, 0, 0, 1], 0).into(),
    )
    .await
    .expect("simulator starts")
}

async fn oa_account(engine: &Engine, sim: &SimHandle, secret: &str) -> engine::accounts::Account {
    let cfg = sim.config();
    engine
        .create_account(
            &Actor::cli(),
            NewAccount {
                kind: AccountKind::Oa,
                name: "测试公众号".into(),
                appid: cfg.oa_appid.clone(),
                secret: Secret::new(secret),
                callback_token: Secret::default(),
                encoding_aes_key: Secret::default(),
                api_base: sim.base_url.clone(),
                linked_account_id: None,
                sandbox: false,
            },
        )
        .await
        .expect("account created")
}

async fn many_callers_share_one_refresh(db: TestDb) {
    let sim = sim().await;
    let engine = Engine::open(&db.url).await.unwrap();
    let account = Arc::new(oa_account(&engine, &sim, &sim.config().oa_secret).await);
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let (engine, account) = (engine.clone(), account.clone());
            tokio::spawn(async move { engine.access_token(&account).await.unwrap() })
        })
        .collect();
    let mut tokens = Vec::new();
    for t in tasks {
        tokens.push(t.await.unwrap());
    }
    assert!(
        tokens.iter().all(|t| t == &tokens[0]),
        "every caller got the same token"
    );
    let health = engine.token_health(account.id).await.unwrap();
    assert_eq!(
        health.refresh_count, 1,
        "64 concurrent callers, one refresh"
    );
    assert!(health.expires_at_ms > engine::now_ms() + 60 * 60 * 1000);
    assert!(health.last_error.is_none());
}
on_both_databases!(many_callers_share_one_refresh);

async fn two_processes_share_one_refresh(db: TestDb) {
    let sim = sim().await;
    let first = Engine::open(&db.url).await.unwrap();
    let second = Engine::open(&db.url).await.unwrap();
    let account = Arc::new(oa_account(&first, &sim, &sim.config().oa_secret).await);
    let mut tasks = Vec::new();
    for i in 0..32 {
        let engine = if i % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        let account = account.clone();
        tasks.push(tokio::spawn(async move {
            engine.access_token(&account).await.unwrap()
        }));
    }
    let mut tokens = Vec::new();
    for t in tasks {
        tokens.push(t.await.unwrap());
    }
    assert!(tokens.iter().all(|t| t == &tokens[0]));
    assert_eq!(
        first.token_health(account.id).await.unwrap().refresh_count,
        1,
        "two engines, one refresh"
    );
}
on_both_databases!(two_processes_share_one_refresh);

async fn a_token_close_to_expiry_is_renewed(db: TestDb) {
    let sim = sim().await;
    let engine = Engine::open(&db.url).await.unwrap();
    let account = oa_account(&engine, &sim, &sim.config().oa_secret).await;
    let first = engine.access_token(&account).await.unwrap();
    assert_eq!(
        engine.access_token(&account).await.unwrap(),
        first,
        "a fresh token is reused"
    );
    // Pretend the stored token has three minutes left: inside the refresh-ahead window.
    let soon = engine::now_ms() + 3 * 60 * 1000;
    on_db!(engine.db(), |pool| sqlx::query(
        "UPDATE wechat_tokens SET expires_at_ms = $1 WHERE account_id = $2"
    )
    .bind(soon)
    .bind(account.id)
    .execute(pool)
    .await
    .map(|_| ()))
    .unwrap();
    engine.access_token(&account).await.unwrap();
    let health = engine.token_health(account.id).await.unwrap();
    assert_eq!(health.refresh_count, 2);
    assert!(health.expires_at_ms > soon);
}
on_both_databases!(a_token_close_to_expiry_is_renewed);

async fn a_rejected_token_is_refreshed_once_and_the_call_retried(db: TestDb) {
    let sim = sim().await;
    let engine = Engine::open(&db.url).await.unwrap();
    let account = oa_account(&engine, &sim, &sim.config().oa_secret).await;
    let before = engine.access_token(&account).await.unwrap();

    // WeChat invalidates every token it issued (as a force refresh elsewhere would).
    let r = reqwest::Client::new()
        .post(format!("{}/sim/tokens/invalidate", sim.base_url))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());

    let base = account.api_base.clone();
    let page = engine
        .with_token(&account, |token| {
            let (client, base) = (engine.wechat().clone(), base.clone());
            async move { client.user_get(&base, &token, None).await }
        })
        .await
        .expect("the call succeeds after one refresh");
    assert_eq!(page.total, 50);
    let after = engine.access_token(&account).await.unwrap();
    assert_ne!(before, after, "a new token replaced the rejected one");
    assert_eq!(
        engine.token_health(account.id).await.unwrap().refresh_count,
        2
    );
}
on_both_databases!(a_rejected_token_is_refreshed_once_and_the_call_retried);

async fn a_wrong_secret_is_explained_and_recorded(db: TestDb) {
    let sim = sim().await;
    let engine = Engine::open(&db.url).await.unwrap();
    let account = oa_account(&engine, &sim, "0123456789abcdef0123456789abcdef").await;
    let err = engine
        .test_connection(&Actor::cli(), &account)
        .await
        .unwrap_err();
    let engine::Error::WeChat(api) = err else {
        panic!("expected a WeChat error, got {err:?}")
    };
    assert_eq!(api.code(), Some(40125));
    assert!(api.explain(true).contains("AppSecret"));
    let health = engine.token_health(account.id).await.unwrap();
    assert!(health.last_error.unwrap_or_default().contains("40125"));
    assert_eq!(health.refresh_count, 0);
    let audit = engine
        .audit_recent(Some("account.test_connection"), 5)
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    assert!(
        audit[0].detail.contains("40125") && !audit[0].detail.contains("0123456789abcdef"),
        "no secret in the audit log"
    );
}
on_both_databases!(a_wrong_secret_is_explained_and_recorded);
