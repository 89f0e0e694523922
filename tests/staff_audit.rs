//! Staff administration and the audit log through the real binary, on both databases: who may
//! call each new server function and the audit export, the refusals explained, disabling
//! someone ending their session, and an audit CSV with the failed login and no secret.

mod common;

use common::{add_user, call, login, page_text, Server, TestDb};
use engine::on_both_databases;
use reqwest::StatusCode;

const ADMIN_PW: &str = "admin-password-1";
const OPERATOR_PW: &str = "operator-password-1";
const WRONG_PW: &str = "wrong-secret-attempt-42";
const NEW_STAFF_PW: &str = "new-staff-initial-pw";

/// A server function, arguments it accepts, and whether operators may call it.
type Endpoint = (&'static str, &'static [(&'static str, &'static str)], bool);

/// Every new server function.
const ENDPOINTS: &[Endpoint] = &[
    ("list_staff_members", &[], false),
    (
        "add_staff",
        &[
            ("username", "someone"),
            ("role", "operator"),
            ("password", "long-enough-pw"),
            ("password_confirm", "long-enough-pw"),
        ],
        false,
    ),
    (
        "change_staff_role",
        &[("id", "1"), ("role", "operator")],
        false,
    ),
    (
        "set_staff_disabled",
        &[("id", "1"), ("disabled", "true")],
        false,
    ),
    ("reset_staff_password", &[("id", "1")], false),
    (
        "list_audit",
        &[
            ("action", ""),
            ("actor", ""),
            ("from", ""),
            ("until", ""),
            ("q", ""),
            ("before", ""),
        ],
        false,
    ),
    (
        "change_my_password",
        &[
            ("current_password", "not-the-password"),
            ("new_password", "another-long-pw"),
            ("new_password_confirm", "another-long-pw"),
        ],
        true,
    ),
];

async fn staff_admin_and_audit_over_http(db: TestDb) {
    add_user(&db, "admin", "admin", ADMIN_PW);
    add_user(&db, "operator", "operator", OPERATOR_PW);
    let server = Server::start(&db);

    // Nobody logged in: 401 from every server function; the export sends them to log in.
    let anonymous = server.client();
    for (endpoint, form, _) in ENDPOINTS {
        let r = call(&anonymous, &server, endpoint, form).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{endpoint}");
    }
    let r = anonymous
        .get(server.url("/export/audit.csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(r.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/login"));
    for page in ["/staff", "/audit"] {
        let r = anonymous.get(server.url(page)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{page}");
    }

    // A failed login to find in the log later, without the password tried.
    let r = login(&anonymous, &server, "admin", WRONG_PW).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Operators: 403 from every admin function and from the export; their own password is theirs.
    let operator = server.client();
    assert_eq!(
        login(&operator, &server, "operator", OPERATOR_PW)
            .await
            .status(),
        StatusCode::OK
    );
    for (endpoint, form, operators_may) in ENDPOINTS {
        let r = call(&operator, &server, endpoint, form).await;
        if *operators_may {
            assert_eq!(
                r.status(),
                StatusCode::UNAUTHORIZED,
                "{endpoint}: a wrong current password is refused like a wrong login"
            );
            assert!(r.text().await.unwrap().contains("InvalidCredentials"));
        } else {
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{endpoint}");
        }
    }
    let r = operator
        .get(server.url("/export/audit.csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let html = page_text(&operator, &server, "/staff").await;
    assert!(
        html.contains("只有管理员可以查看此页面"),
        "explained to operators"
    );
    assert!(
        !html.contains("href=\"/audit\""),
        "no admin links for operators"
    );

    // The admin adds someone, who logs in.
    let admin = server.client();
    login(&admin, &server, "admin", ADMIN_PW).await;
    let html = page_text(&admin, &server, "/staff").await;
    assert!(html.contains("href=\"/audit\"") && html.contains("添加员工"));
    let r = call(
        &admin,
        &server,
        "add_staff",
        &[
            ("username", "ops.new"),
            ("role", "operator"),
            ("password", "short"),
            ("password_confirm", "short"),
        ],
    )
    .await;
    assert_eq!(
        r.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "the setup password rules"
    );
    let r = call(
        &admin,
        &server,
        "add_staff",
        &[
            ("username", "ops.new"),
            ("role", "operator"),
            ("password", NEW_STAFF_PW),
            ("password_confirm", NEW_STAFF_PW),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let added: serde_json::Value = r.json().await.unwrap();
    let new_id = added["id"].as_i64().unwrap();
    assert_eq!(added["role"], "operator");
    let dup = call(
        &admin,
        &server,
        "add_staff",
        &[
            ("username", "ops.new"),
            ("role", "admin"),
            ("password", NEW_STAFF_PW),
            ("password_confirm", NEW_STAFF_PW),
        ],
    )
    .await;
    assert_eq!(dup.status(), StatusCode::CONFLICT);

    let newcomer = server.client();
    assert_eq!(
        login(&newcomer, &server, "ops.new", NEW_STAFF_PW)
            .await
            .status(),
        StatusCode::OK
    );

    // Refusals are answers with a reason, not errors.
    let list: serde_json::Value = call(&admin, &server, "list_staff_members", &[])
        .await
        .json()
        .await
        .unwrap();
    let admin_id = list
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["username"] == "admin")
        .unwrap()["id"]
        .to_string();
    let r = call(
        &admin,
        &server,
        "set_staff_disabled",
        &[("id", &admin_id), ("disabled", "true")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("OwnAccount"));
    let r = call(
        &admin,
        &server,
        "change_staff_role",
        &[("id", &admin_id), ("role", "operator")],
    )
    .await;
    assert!(r.text().await.unwrap().contains("LastActiveAdmin"));
    let r = call(
        &admin,
        &server,
        "change_staff_role",
        &[("id", "99999"), ("role", "admin")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // A reset password is shown once and works; the newcomer's session ended with it.
    let r = call(
        &admin,
        &server,
        "reset_staff_password",
        &[("id", &new_id.to_string())],
    )
    .await;
    let reset: serde_json::Value = r.json().await.unwrap();
    let generated = reset["Reset"]["password"].as_str().unwrap().to_owned();
    let r = call(&newcomer, &server, "change_my_password", ENDPOINTS[6].1).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.text().await.unwrap().contains("Unauthenticated"));
    assert_eq!(
        login(&newcomer, &server, "ops.new", &generated)
            .await
            .status(),
        StatusCode::OK
    );

    // Disabling ends the session at once: the next request is no longer logged in.
    let r = call(
        &admin,
        &server,
        "set_staff_disabled",
        &[("id", &new_id.to_string()), ("disabled", "true")],
    )
    .await;
    assert!(r.text().await.unwrap().contains("\"disabled\":true"));
    let r = newcomer.get(server.url("/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = login(&newcomer, &server, "ops.new", &generated).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "a disabled account");

    // The audit page and the CSV: the failures with their reasons, nothing secret.
    let r = call(
        &admin,
        &server,
        "list_audit",
        &[
            ("action", "staff.*"),
            ("actor", "admin"),
            ("from", ""),
            ("until", ""),
            ("q", "ops.new"),
            ("before", ""),
        ],
    )
    .await;
    let page: serde_json::Value = r.json().await.unwrap();
    let actions: Vec<&str> = page["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["staff.disable", "staff.password_reset", "staff.create"]
    );
    let r = call(
        &admin,
        &server,
        "list_audit",
        &[
            ("action", ""),
            ("actor", ""),
            ("from", "yesterday"),
            ("until", ""),
            ("q", ""),
            ("before", ""),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let html = page_text(&admin, &server, "/audit?action=login.failure").await;
    assert!(html.contains("登录失败 · 密码错误"), "human labels");

    let r = admin
        .get(server.url("/export/audit.csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = r.text().await.unwrap();
    assert!(
        csv.starts_with("\u{feff}id,time,actor,action,action_zh,action_en,target,detail,ip\n"),
        "{csv}"
    );
    let failure = csv
        .lines()
        .find(|l| l.contains(",login.failure,") && l.contains(",admin,"))
        .unwrap_or_else(|| panic!("a failed login for admin: {csv}"));
    assert!(failure.contains("wrong_password") && failure.contains("登录失败 · 密码错误"));
    for action in [
        "login.success",
        "staff.create",
        "staff.password_reset",
        "staff.disable",
        "profile.password_change_failed",
    ] {
        assert!(csv.contains(&format!(",{action},")), "{action}: {csv}");
    }
    for secret in [
        ADMIN_PW,
        OPERATOR_PW,
        WRONG_PW,
        NEW_STAFF_PW,
        generated.as_str(),
        "not-the-password",
        "another-long-pw",
    ] {
        assert!(!csv.contains(secret), "{secret} is in the audit CSV");
    }
    let filtered = page_text(&admin, &server, "/export/audit.csv?action=login.failure").await;
    let rows: Vec<&str> = filtered.lines().skip(1).collect();
    assert!(rows.len() >= 2, "{filtered}");
    assert!(
        rows.iter().all(|l| l.contains(",login.failure,")),
        "{filtered}"
    );
    let exports = page_text(&admin, &server, "/export/audit.csv?action=audit.export").await;
    assert_eq!(
        exports.lines().count(),
        4,
        "each export is audited: {exports}"
    );
}
on_both_databases!(staff_admin_and_audit_over_http);
