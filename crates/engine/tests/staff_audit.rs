//! Staff administration and the audit log on both databases: the last-admin rule (also when two
//! admins demote each other at once), disabling ends sessions and logins, password changes and
//! resets, the audit page's filters, and the database refusing to rewrite the audit log.

use std::collections::HashMap;

use engine::audit::{Actor, AuditAction, AuditFilter};
use engine::staff::sessions::{Sessions, STAFF_ID_KEY};
use engine::staff::{StaffMember, StaffRefusal};
use engine::testing::TestDb;
use engine::{on_both_databases, on_db, Engine, Error, Role, Staff};
use tower_sessions::cookie::time::{Duration, OffsetDateTime};
use tower_sessions::session::{Id, Record};
use tower_sessions::SessionStore;

const PW: &str = "first-password-1";
const IP: &str = "203.0.113.9";

async fn staff(engine: &Engine, name: &str, role: Role) -> Staff {
    engine
        .create_staff(&Actor::cli(), name, PW, role)
        .await
        .unwrap()
}

fn as_actor(s: &Staff) -> Actor {
    Actor::staff(s.id, &s.username, IP)
}

async fn active_admins(engine: &Engine) -> usize {
    engine
        .list_staff()
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.role == Role::Admin && !m.disabled)
        .count()
}

/// A live session of `staff_id`, as the app stores it at login.
async fn session_of(store: &Sessions, staff_id: i64) -> Id {
    let mut data = HashMap::new();
    data.insert(STAFF_ID_KEY.to_owned(), serde_json::json!(staff_id));
    data.insert("lang".to_owned(), serde_json::json!("zh"));
    let mut record = Record {
        id: Id::default(),
        data,
        expiry_date: OffsetDateTime::now_utc() + Duration::hours(1),
    };
    store.create(&mut record).await.unwrap();
    record.id
}

async fn actions(engine: &Engine, prefix: &str) -> Vec<(String, String, serde_json::Value)> {
    let filter = AuditFilter {
        action: prefix.into(),
        ..AuditFilter::default()
    };
    engine
        .audit_page(&filter, None, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| {
            (
                e.action,
                e.target,
                serde_json::from_str(&e.detail).unwrap_or_default(),
            )
        })
        .collect()
}

async fn last_active_admin_is_kept(db: TestDb) {
    let engine = Engine::open(&db.url).await.unwrap();
    let boss = staff(&engine, "boss", Role::Admin).await;
    let ops = staff(&engine, "ops.li", Role::Operator).await;
    let by_boss = as_actor(&boss);

    assert_eq!(
        engine
            .set_staff_role(&by_boss, boss.id, Role::Operator)
            .await
            .unwrap(),
        Err(StaffRefusal::LastActiveAdmin),
        "the only admin cannot be demoted, not even by themselves"
    );
    assert_eq!(
        engine
            .set_staff_disabled(&by_boss, boss.id, true)
            .await
            .unwrap(),
        Err(StaffRefusal::OwnAccount),
        "an admin cannot disable themselves"
    );
    assert_eq!(
        engine
            .set_staff_disabled(&Actor::cli(), boss.id, true)
            .await
            .unwrap(),
        Err(StaffRefusal::LastActiveAdmin),
        "nobody can disable the last active admin"
    );
    assert_eq!(
        engine
            .set_staff_role(&by_boss, 9999, Role::Admin)
            .await
            .unwrap(),
        Err(StaffRefusal::NotFound)
    );
    assert_eq!(active_admins(&engine).await, 1);

    // A second admin makes the first one free to go.
    let promoted: StaffMember = engine
        .set_staff_role(&by_boss, ops.id, Role::Admin)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(promoted.role, Role::Admin);
    let by_ops = as_actor(&ops);
    let demoted = engine
        .set_staff_role(&by_ops, boss.id, Role::Operator)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(demoted.role, Role::Operator);
    assert_eq!(
        engine
            .set_staff_role(&by_ops, ops.id, Role::Operator)
            .await
            .unwrap(),
        Err(StaffRefusal::LastActiveAdmin)
    );

    // A disabled admin does not count: with boss promoted again but disabled, ops is the last.
    engine
        .set_staff_role(&by_ops, boss.id, Role::Admin)
        .await
        .unwrap()
        .unwrap();
    engine
        .set_staff_disabled(&by_ops, boss.id, true)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        engine
            .set_staff_role(&by_ops, ops.id, Role::Operator)
            .await
            .unwrap(),
        Err(StaffRefusal::LastActiveAdmin)
    );
    // Demoting a disabled admin is fine: they were not counted.
    engine
        .set_staff_role(&by_ops, boss.id, Role::Operator)
        .await
        .unwrap()
        .unwrap();

    let log = actions(&engine, "staff.").await;
    let names: Vec<&str> = log.iter().map(|(a, _, _)| a.as_str()).collect();
    assert_eq!(
        names,
        [
            "staff.role",
            "staff.disable",
            "staff.role",
            "staff.role",
            "staff.role",
            "staff.create",
            "staff.create"
        ],
        "changes are audited newest first, refusals change nothing"
    );
    assert_eq!(log[0].2["from"], "admin");
    assert_eq!(log[0].2["to"], "operator");
    assert_eq!(log[0].1, "boss");
}
on_both_databases!(last_active_admin_is_kept);

/// Two admins demote (or disable) each other at the same moment, many times over: exactly one
/// wins each time and one admin always remains.
async fn concurrent_demotions_leave_one_admin(db: TestDb) {
    let engine = Engine::open(&db.url).await.unwrap();
    let a = staff(&engine, "admin.a", Role::Admin).await;
    let b = staff(&engine, "admin.b", Role::Admin).await;
    for round in 0..12 {
        // Both admins again, both enabled.
        for s in [&a, &b] {
            engine
                .set_staff_disabled(&Actor::cli(), s.id, false)
                .await
                .unwrap()
                .unwrap();
            engine
                .set_staff_role(&Actor::cli(), s.id, Role::Admin)
                .await
                .unwrap()
                .unwrap();
        }
        assert_eq!(active_admins(&engine).await, 2);
        let disable = round % 2 == 1;
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
        let race = |me: Staff, other: i64| {
            let engine = engine.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                let actor = as_actor(&me);
                if disable {
                    engine
                        .set_staff_disabled(&actor, other, true)
                        .await
                        .map(|r| r.map(|_| ()))
                } else {
                    engine
                        .set_staff_role(&actor, other, Role::Operator)
                        .await
                        .map(|r| r.map(|_| ()))
                }
            })
        };
        let (ra, rb) = tokio::join!(race(a.clone(), b.id), race(b.clone(), a.id));
        let outcomes = [ra.unwrap().unwrap(), rb.unwrap().unwrap()];
        let won = outcomes.iter().filter(|o| o.is_ok()).count();
        let refused = outcomes
            .iter()
            .filter(|o| **o == Err(StaffRefusal::LastActiveAdmin))
            .count();
        assert_eq!(
            (won, refused),
            (1, 1),
            "round {round} (disable: {disable}): {outcomes:?}"
        );
        assert_eq!(active_admins(&engine).await, 1, "round {round}");
    }
}
on_both_databases!(concurrent_demotions_leave_one_admin);

async fn disabling_ends_sessions_and_logins(db: TestDb) {
    let engine = Engine::open(&db.url).await.unwrap();
    let store = Sessions::open(engine.db()).await.unwrap();
    let boss = staff(&engine, "boss", Role::Admin).await;
    let ops = staff(&engine, "ops.li", Role::Operator).await;
    let ops_phone = session_of(&store, ops.id).await;
    let ops_laptop = session_of(&store, ops.id).await;
    let boss_session = session_of(&store, boss.id).await;

    engine.login("ops.li", PW, IP).await.unwrap();
    let member = engine
        .set_staff_disabled(&as_actor(&boss), ops.id, true)
        .await
        .unwrap()
        .unwrap();
    assert!(member.disabled);
    assert!(store.load(&ops_phone).await.unwrap().is_none());
    assert!(store.load(&ops_laptop).await.unwrap().is_none());
    assert!(
        store.load(&boss_session).await.unwrap().is_some(),
        "other people's sessions stay"
    );
    assert!(engine.active_staff(ops.id).await.unwrap().is_none());
    assert!(matches!(
        engine.login("ops.li", PW, IP).await,
        Err(Error::AccountDisabled)
    ));

    let log = actions(&engine, "staff.disable").await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].1, "ops.li");
    assert_eq!(log[0].2["sessions_ended"], 2);
    let failures = actions(&engine, "login.failure").await;
    assert_eq!(failures[0].2["reason"], "disabled");

    engine
        .set_staff_disabled(&as_actor(&boss), ops.id, false)
        .await
        .unwrap()
        .unwrap();
    engine.login("ops.li", PW, IP).await.unwrap();
    assert_eq!(actions(&engine, "staff.enable").await.len(), 1);
    let logins: Vec<String> = actions(&engine, "login.*")
        .await
        .into_iter()
        .map(|(a, _, d)| format!("{a}:{}", d["reason"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(
        logins,
        ["login.success:", "login.failure:disabled", "login.success:"]
    );
}
on_both_databases!(disabling_ends_sessions_and_logins);

async fn changing_and_resetting_passwords(db: TestDb) {
    let engine = Engine::open(&db.url).await.unwrap();
    let store = Sessions::open(engine.db()).await.unwrap();
    let boss = staff(&engine, "boss", Role::Admin).await;
    let ops = staff(&engine, "ops.li", Role::Operator).await;
    let me = as_actor(&ops);
    let here = session_of(&store, ops.id).await;
    let elsewhere = session_of(&store, ops.id).await;

    // A wrong current password changes nothing and counts as a failed login.
    assert!(matches!(
        engine
            .change_own_password(&me, ops.id, "not-my-password", "second-password-2", None)
            .await,
        Err(Error::InvalidCredentials)
    ));
    engine.login("ops.li", PW, IP).await.unwrap();

    let keep = here.to_string();
    engine
        .change_own_password(&me, ops.id, PW, "second-password-2", Some(&keep))
        .await
        .unwrap();
    assert!(
        store.load(&here).await.unwrap().is_some(),
        "this session stays"
    );
    assert!(
        store.load(&elsewhere).await.unwrap().is_none(),
        "other sessions end"
    );
    assert!(matches!(
        engine.login("ops.li", PW, IP).await,
        Err(Error::InvalidCredentials)
    ));
    engine
        .login("ops.li", "second-password-2", IP)
        .await
        .unwrap();

    // Five wrong current passwords lock the form like five failed logins lock the login page.
    for _ in 0..5 {
        assert!(matches!(
            engine
                .change_own_password(&me, ops.id, "guess-guess", "third-password-3", None)
                .await,
            Err(Error::InvalidCredentials)
        ));
    }
    assert!(matches!(
        engine
            .change_own_password(&me, ops.id, "second-password-2", "third-password-3", None)
            .await,
        Err(Error::Throttled { .. })
    ));
    assert!(matches!(
        engine.login("ops.li", "second-password-2", IP).await,
        Err(Error::Throttled { .. })
    ));

    // An admin resets it: a generated password, shown once, which also lifts the lock.
    let by_boss = as_actor(&boss);
    assert_eq!(
        engine
            .reset_staff_password(&by_boss, boss.id)
            .await
            .unwrap(),
        Err(StaffRefusal::OwnAccount)
    );
    let generated = engine
        .reset_staff_password(&by_boss, ops.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(generated.len(), 19, "{generated}");
    assert!(
        store.load(&here).await.unwrap().is_none(),
        "a reset ends every session"
    );
    engine.login("ops.li", &generated, IP).await.unwrap();
    assert!(matches!(
        engine
            .login("ops.li", "second-password-2", "198.51.100.1")
            .await,
        Err(Error::InvalidCredentials)
    ));

    let changes = actions(&engine, "profile.").await;
    let names: Vec<&str> = changes.iter().map(|(a, _, _)| a.as_str()).collect();
    assert_eq!(names.first(), Some(&"profile.password_change_failed"));
    assert_eq!(changes[0].2["reason"], "locked");
    assert!(names.contains(&"profile.password_change"));
    assert_eq!(
        actions(&engine, "staff.password_reset").await[0].2["sessions_ended"],
        1
    );

    // No password, old, new or generated, ever reaches the audit log.
    let all = engine
        .audit_page(&AuditFilter::default(), None, 1000)
        .await
        .unwrap();
    let text = format!("{all:?}");
    for secret in [
        PW,
        "second-password-2",
        "third-password-3",
        "not-my-password",
        "guess-guess",
        generated.as_str(),
    ] {
        assert!(!text.contains(secret), "{secret} leaked into the audit log");
    }
}
on_both_databases!(changing_and_resetting_passwords);

async fn audit_log_is_append_only(db: TestDb) {
    let engine = Engine::open(&db.url).await.unwrap();
    staff(&engine, "boss", Role::Admin).await;
    let before = engine
        .audit_page(&AuditFilter::default(), None, 10)
        .await
        .unwrap();
    assert_eq!(before.len(), 1);
    for sql in [
        "UPDATE audit_log SET actor = 'someone else'",
        "UPDATE audit_log SET detail = '{}' WHERE id = 1",
        "DELETE FROM audit_log",
        "DELETE FROM audit_log WHERE id = 1",
    ] {
        let res = on_db!(engine.db(), |pool| sqlx::query(sql)
            .execute(pool)
            .await
            .map(|_| ()));
        let err = res.expect_err(sql).to_string();
        assert!(err.contains("append-only"), "{sql}: {err}");
    }
    if let engine::Db::Postgres(pool) = engine.db() {
        let err = sqlx::query("TRUNCATE audit_log")
            .execute(pool)
            .await
            .expect_err("TRUNCATE")
            .to_string();
        assert!(err.contains("append-only"), "{err}");
    }
    let after = engine
        .audit_page(&AuditFilter::default(), None, 10)
        .await
        .unwrap();
    assert_eq!(
        format!("{before:?}"),
        format!("{after:?}"),
        "nothing changed"
    );
    // Appending still works.
    engine
        .audit(
            &Actor::system(),
            AuditAction::KeysRotate,
            "x",
            serde_json::json!({}),
        )
        .await
        .unwrap();
}
on_both_databases!(audit_log_is_append_only);

async fn audit_filters_and_keyset_paging(db: TestDb) {
    let engine = Engine::open(&db.url).await.unwrap();
    let boss = staff(&engine, "boss", Role::Admin).await;
    let actor = as_actor(&boss);
    for i in 0..25 {
        engine
            .audit(
                &actor,
                AuditAction::PresetUpdate,
                &format!("Preset_{i:02} 发货通知"),
                serde_json::json!({ "i": i }),
            )
            .await
            .unwrap();
    }
    engine
        .audit(
            &actor,
            AuditAction::PresetDelete,
            "100%_off",
            serde_json::json!({}),
        )
        .await
        .unwrap();
    let _ = engine.login("boss", "wrong password!", IP).await;
    let _ = engine.login("nobody", "wrong password!", IP).await;

    // Keyset pages of 10: newest first, no overlap, nothing missed.
    let exact = AuditFilter {
        action: "preset.update".into(),
        ..AuditFilter::default()
    };
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = engine.audit_page(&exact, before, 10).await.unwrap();
        if page.is_empty() {
            break;
        }
        before = page.last().map(|e| e.id);
        seen.extend(page.into_iter().map(|e| e.target));
    }
    assert_eq!(seen.len(), 25);
    assert_eq!(seen[0], "Preset_24 发货通知");
    assert_eq!(seen[24], "Preset_00 发货通知");

    let count = |f: AuditFilter| {
        let engine = engine.clone();
        async move { engine.audit_page(&f, None, 1000).await.unwrap().len() }
    };
    let prefix = |p: &str| AuditFilter {
        action: p.into(),
        ..AuditFilter::default()
    };
    assert_eq!(count(prefix("preset.")).await, 26);
    assert_eq!(count(prefix("preset.*")).await, 26);
    assert_eq!(
        count(prefix("preset")).await,
        0,
        "without . or * it is exact"
    );
    assert_eq!(count(prefix("login.failure")).await, 2);
    assert_eq!(count(prefix("*")).await, 29);
    assert_eq!(
        count(AuditFilter {
            actor: "anonymous".into(),
            ..AuditFilter::default()
        })
        .await,
        2
    );
    assert_eq!(
        count(AuditFilter {
            target: "preset_1".into(),
            ..AuditFilter::default()
        })
        .await,
        10,
        "case-insensitive substring"
    );
    assert_eq!(
        count(AuditFilter {
            target: "发货".into(),
            action: "preset.*".into(),
            ..AuditFilter::default()
        })
        .await,
        25
    );
    assert_eq!(
        count(AuditFilter {
            target: "0%_".into(),
            ..AuditFilter::default()
        })
        .await,
        1,
        "% and _ match themselves"
    );
    let now = engine::now_ms();
    assert_eq!(
        count(AuditFilter {
            until_ms: Some(now - 3_600_000),
            ..AuditFilter::default()
        })
        .await,
        0
    );
    assert_eq!(
        count(AuditFilter {
            from_ms: Some(now - 3_600_000),
            until_ms: Some(now + 3_600_000),
            ..AuditFilter::default()
        })
        .await,
        29
    );
    let failures = engine
        .audit_page(&prefix("login.failure"), None, 10)
        .await
        .unwrap();
    let reasons: Vec<String> = failures
        .iter()
        .map(|e| {
            serde_json::from_str::<serde_json::Value>(&e.detail).unwrap()["reason"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(reasons, ["unknown_user", "wrong_password"]);
    assert!(!format!("{failures:?}").contains("wrong password!"));
}
on_both_databases!(audit_filters_and_keyset_paging);
