//! Mini Program users against the WeChat simulator: API keys, logins with every code error, and the CSV import.

use std::collections::BTreeMap;

use engine::accounts::{Account, AccountKind, NewAccount, Secret};
use engine::audit::Actor;
use engine::followers::mp_users::{ImportProblem, MpLogin};
use engine::testing::TestDb;
use engine::{on_both_databases, Engine, Error};
use wechat_sim::{ErrorScope, FaultConfig, SimConfig, SimHandle};

async fn sim() -> SimHandle {
    wechat_sim::start(
        SimConfig {
            followers: 50,
            mp_users: 20,
            mp_unionid_ratio: 0.5,
            matched_ratio: 0.4,
            ..SimConfig::default()
        },
        ([127, 0, 0, 1], 0).into(),
    )
    .await
    .expect("simulator starts")
}

async fn account(
    engine: &Engine,
    sim: &SimHandle,
    kind: AccountKind,
    appid: &str,
    secret: &str,
) -> Account {
    engine
        .create_account(
            &Actor::cli(),
            NewAccount {
                kind,
                name: format!("{} {appid}", kind.as_str()),
                appid: appid.into(),
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

async fn mp(engine: &Engine, sim: &SimHandle) -> Account {
    let cfg = sim.config();
    account(engine, sim, AccountKind::Mp, &cfg.mp_appid, &cfg.mp_secret).await
}

fn admin() -> Actor {
    Actor::staff(1, "admin", "127.0.0.1")
}

async fn api_keys(db: TestDb) {
    let sim = sim().await;
    let engine = Engine::open(&db.url).await.unwrap();
    let mp = mp(&engine, &sim).await;
    let other = account(
        &engine,
        &sim,
        AccountKind::Mp,
        "wx00000000000000aa",
        "0123456789abcdef0123456789abcdef",
    )
    .await;
    let oa = account(
        &engine,
        &sim,
        AccountKind::Oa,
        &sim.config().oa_appid,
        &sim.config().oa_secret,
    )
    .await;

    let (key, info) = engine.create_mp_api_key(&admin(), mp.id).await.unwrap();
    assert!(key.starts_with("wxp_") && key.len() == 68, "{key}");
    assert_eq!(info.prefix, key[..12]);
    assert_eq!(info.created_by, "admin");
    assert_eq!(info.revoked_at_ms, None);
    let (other_key, _) = engine.create_mp_api_key(&admin(), other.id).await.unwrap();
    assert!(matches!(
        engine.create_mp_api_key(&admin(), oa.id).await,
        Err(Error::Refused(_))
    ));
    assert!(matches!(
        engine.create_mp_api_key(&admin(), 9999).await,
        Err(Error::NotFound)
    ));

    let listed = engine.list_mp_api_keys(mp.id).await.unwrap();
    assert_eq!(listed, vec![info.clone()]);
    // The settings page's list: each Mini Program once, with its own keys only, the OA absent.
    let (second, _) = engine.create_mp_api_key(&admin(), mp.id).await.unwrap();
    let all = engine.mp_api_keys_by_account().await.unwrap();
    let owners: Vec<i64> = all.iter().map(|(o, _)| o.id).collect();
    assert_eq!(owners, vec![mp.id, other.id]);
    let mine: Vec<&str> = all[0].1.iter().map(|k| k.prefix.as_str()).collect();
    assert_eq!(
        mine,
        vec![&second[..12], info.prefix.as_str()],
        "newest first"
    );
    assert_eq!(all[1].1.len(), 1);
    assert_eq!(all[1].1[0].account_id, other.id);
    let listed = engine.list_mp_api_keys(mp.id).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[1], info);

    assert_eq!(
        engine.verify_mp_api_key(&mp.appid, &key).await.unwrap().id,
        mp.id
    );
    assert!(
        matches!(
            engine.verify_mp_api_key(&mp.appid, &other_key).await,
            Err(Error::InvalidCredentials)
        ),
        "another Mini Program's key is refused"
    );
    assert!(matches!(
        engine.verify_mp_api_key(&mp.appid, "wxp_nope").await,
        Err(Error::InvalidCredentials)
    ));
    assert!(matches!(
        engine.verify_mp_api_key(&oa.appid, &key).await,
        Err(Error::NotFound)
    ));
    assert!(matches!(
        engine.verify_mp_api_key("wx0000000000000000", &key).await,
        Err(Error::NotFound)
    ));

    engine.revoke_mp_api_key(&admin(), info.id).await.unwrap();
    engine.revoke_mp_api_key(&admin(), info.id).await.unwrap();
    assert!(matches!(
        engine.verify_mp_api_key(&mp.appid, &key).await,
        Err(Error::InvalidCredentials)
    ));
    assert!(engine.list_mp_api_keys(mp.id).await.unwrap()[1]
        .revoked_at_ms
        .is_some());
    assert!(matches!(
        engine.revoke_mp_api_key(&admin(), 9999).await,
        Err(Error::NotFound)
    ));

    let audit = engine.audit_recent(None, 50).await.unwrap();
    let creates = audit
        .iter()
        .filter(|e| e.action == "mp_api_key.create")
        .count();
    let revokes: Vec<_> = audit
        .iter()
        .filter(|e| e.action == "mp_api_key.revoke")
        .collect();
    assert_eq!(creates, 3);
    assert_eq!(revokes.len(), 1, "revoking twice is audited once");
    assert!(
        audit
            .iter()
            .all(|e| !e.detail.contains(&key[12..]) && !e.detail.contains(&other_key[12..])),
        "no key in the audit log"
    );
}
on_both_databases!(api_keys);

async fn login_records_the_user(db: TestDb) {
    let sim = sim().await;
    let engine = Engine::open(&db.url).await.unwrap();
    let mp = mp(&engine, &sim).await;
    // One MP user with a unionid, one without.
    let with = (0..20).find(|&i| sim.mp_unionid(i).is_some()).unwrap();
    let without = (0..20).find(|&i| sim.mp_unionid(i).is_none()).unwrap();
    for index in [with, without] {
        let openid = sim.mp_openid(index).unwrap();
        let code = sim.mint_code(index, false).unwrap();
        let login = engine.mp_login(&mp, &code).await.unwrap();
        assert_eq!(
            login,
            MpLogin {
                openid: openid.clone(),
                unionid: sim.mp_unionid(index)
            }
        );
        let row = engine.mp_user(mp.id, &openid).await.unwrap().unwrap();
        assert_eq!(row.unionid, sim.mp_unionid(index));
        assert_eq!(row.source, "login");
        assert_eq!(row.last_login_ms, Some(row.first_seen_ms));
    }
    let openid = sim.mp_openid(with).unwrap();
    let first = engine.mp_user(mp.id, &openid).await.unwrap().unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let code = sim.mint_code_for_openid(&openid, false).unwrap();
    engine.mp_login(&mp, &code).await.unwrap();
    let second = engine.mp_user(mp.id, &openid).await.unwrap().unwrap();
    assert_eq!(second.first_seen_ms, first.first_seen_ms);
    assert!(
        second.last_login_ms > first.last_login_ms,
        "last login moves"
    );
    assert_eq!(engine.count_mp_users(mp.id).await.unwrap(), 2);
}
on_both_databases!(login_records_the_user);

fn wechat_code(result: Result<MpLogin, Error>) -> i64 {
    match result {
        Err(Error::WeChat(e)) => e.code().unwrap_or(0),
        other => panic!("expected a WeChat error, got {other:?}"),
    }
}

async fn login_errors(db: TestDb) {
    let sim = sim().await;
    let engine = Engine::open(&db.url).await.unwrap();
    let mp = mp(&engine, &sim).await;

    assert_eq!(
        wechat_code(
            engine
                .mp_login(&mp, "0000000000000000000000000000dead")
                .await
        ),
        40029
    );
    let code = sim.mint_code(1, false).unwrap();
    engine.mp_login(&mp, &code).await.unwrap();
    assert_eq!(
        wechat_code(engine.mp_login(&mp, &code).await),
        40163,
        "a code is single use"
    );
    let blocked = sim.mint_code(2, true).unwrap();
    assert_eq!(wechat_code(engine.mp_login(&mp, &blocked).await), 40226);

    sim.set_faults(FaultConfig {
        errors: BTreeMap::from([(45011, 1.0)]),
        error_scope: ErrorScope::All,
        ..FaultConfig::default()
    })
    .unwrap();
    let code = sim.mint_code(3, false).unwrap();
    let err = engine.mp_login(&mp, &code).await;
    assert_eq!(wechat_code(err), 45011);
    sim.clear_faults();
    // The throttled call did not use the code up.
    engine.mp_login(&mp, &code).await.unwrap();

    let mut wrong = mp.clone();
    wrong.secret = Secret::new("ffffffffffffffffffffffffffffffff");
    let code = sim.mint_code(4, false).unwrap();
    assert_eq!(wechat_code(engine.mp_login(&wrong, &code).await), 40125);

    // Only the successful logins left rows.
    assert_eq!(engine.count_mp_users(mp.id).await.unwrap(), 2);
}
on_both_databases!(login_errors);

async fn csv_import(db: TestDb) {
    let sim = sim().await;
    let engine = Engine::open(&db.url).await.unwrap();
    let mp = mp(&engine, &sim).await;
    let ids: Vec<String> = (0..6).map(|i| sim.mp_openid(i).unwrap()).collect();
    let union = "oUnIoN0123456789abcdefghij_-";
    // A user who logged in already: the import must not lose its login data.
    let code = sim.mint_code(0, false).unwrap();
    let login = engine.mp_login(&mp, &code).await.unwrap();

    let csv = format!(
        "openid,unionid\n\
         {a},{union}\n\
         {b}\n\
         not-an-openid,{union}\n\
         \n\
         {c},short\n\
         {a},{union}\n\
         {d},{union},extra\n\
         {e},\n\
         ,{union}\n\
         {f}\n",
        a = ids[0],
        b = ids[1],
        c = ids[2],
        d = ids[3],
        e = ids[4],
        f = ids[5],
    );
    let report = engine
        .import_mp_users_csv(&admin(), mp.id, &csv)
        .await
        .unwrap();
    let lines: Vec<(usize, ImportProblem)> = report
        .errors
        .iter()
        .map(|e| (e.line, e.problem.clone()))
        .collect();
    assert_eq!(
        lines,
        vec![
            (
                4,
                ImportProblem::Openid {
                    value: "not-an-openid".into()
                }
            ),
            (
                6,
                ImportProblem::Unionid {
                    value: "short".into()
                }
            ),
            (7, ImportProblem::Duplicate { first_line: 2 }),
            (8, ImportProblem::Columns { found: 3 }),
            (10, ImportProblem::MissingOpenid),
        ]
    );
    assert_eq!(report.error_count, 5);
    assert!(report.errors.iter().all(|e| !e.message.is_empty()));
    assert_eq!((report.inserted, report.updated), (3, 1));

    let logged_in = engine.mp_user(mp.id, &ids[0]).await.unwrap().unwrap();
    assert_eq!(logged_in.source, "login", "a login outranks an import");
    assert!(logged_in.last_login_ms.is_some());
    assert_eq!(
        logged_in.unionid,
        login.unionid.or(Some(union.to_owned())),
        "a known unionid is kept, a missing one filled in"
    );
    let imported = engine.mp_user(mp.id, &ids[4]).await.unwrap().unwrap();
    assert_eq!(
        (
            imported.source.as_str(),
            imported.unionid,
            imported.last_login_ms
        ),
        ("import", None, None)
    );
    assert!(engine.mp_user(mp.id, &ids[2]).await.unwrap().is_none());
    assert_eq!(engine.count_mp_users(mp.id).await.unwrap(), 4);

    // Importing again: everything is known; a unionid arrives for one of them.
    let again = format!("{},{union}\n{}\n", ids[1], ids[5]);
    let report = engine
        .import_mp_users_csv(&admin(), mp.id, &again)
        .await
        .unwrap();
    assert_eq!(
        (report.inserted, report.updated, report.error_count),
        (0, 2, 0)
    );
    assert_eq!(
        engine
            .mp_user(mp.id, &ids[1])
            .await
            .unwrap()
            .unwrap()
            .unionid
            .as_deref(),
        Some(union)
    );

    // Many rows go through several batches.
    let many: String = (0..1234).map(|i| format!("o{:027}\n", i)).collect();
    let report = engine
        .import_mp_users_csv(&admin(), mp.id, &many)
        .await
        .unwrap();
    assert_eq!(
        (report.inserted, report.updated, report.error_count),
        (1234, 0, 0)
    );
    assert_eq!(engine.count_mp_users(mp.id).await.unwrap(), 4 + 1234);

    // Too many rows: refused whole.
    let huge =
        "o000000000000000000000000000\n".repeat(engine::followers::mp_users::MAX_IMPORT_ROWS + 1);
    assert!(matches!(
        engine.import_mp_users_csv(&admin(), mp.id, &huge).await,
        Err(Error::Refused(r)) if r.field == "csv"
    ));
    assert_eq!(engine.count_mp_users(mp.id).await.unwrap(), 4 + 1234);

    let audit = engine
        .audit_recent(Some("mp_users.import"), 10)
        .await
        .unwrap();
    assert_eq!(audit.len(), 3);
}
on_both_databases!(csv_import);

/// Writers that read before they write, side by side (imports count the rows they will update
/// first): every one completes. A deferred SQLite transaction that had read could not take the
/// write lock once another writer had committed — "database is locked" at once, whatever the
/// busy timeout; write transactions now take the lock when they begin.
async fn concurrent_read_then_write_transactions_all_complete(db: TestDb) {
    let sim = sim().await;
    let engine = Engine::open(&db.url).await.unwrap();
    let mp = mp(&engine, &sim).await;
    let writers: Vec<_> = (0..6)
        .map(|w| {
            let engine = engine.clone();
            let mp_id = mp.id;
            tokio::spawn(async move {
                for round in 0..25 {
                    let csv: String = (0..20)
                        .map(|i| format!("oConcurrentWriter{w:02}{round:03}{i:04}00,\n"))
                        .collect();
                    engine
                        .import_mp_users_csv(&admin(), mp_id, &csv)
                        .await
                        .map_err(|e| format!("writer {w}, round {round}: {e}"))?;
                }
                Ok::<_, String>(())
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap().unwrap();
    }
    assert_eq!(engine.count_mp_users(mp.id).await.unwrap(), 6 * 25 * 20);
}
on_both_databases!(concurrent_read_then_write_transactions_all_complete);
