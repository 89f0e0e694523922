//! `POST /jobs/sheets` through the real binary, on SQLite and PostgreSQL: a browser's form comes
//! back to 新建发送任务 with the upload or with why it was refused, a JSON client gets 201 or a
//! 4xx naming the problem, a 200 MB upload is refused from its announced size before its body is
//! read, and nobody without a session uploads anything.

mod common;

use common::{
    add_sim_oa, add_user, announce_body, login, session_cookie, start_sim, Server, TestDb,
};
use engine::on_both_databases;
use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use serde_json::Value;

const ADMIN_PW: &str = "admin-password-1";

fn form(name: &str, bytes: Vec<u8>) -> Form {
    Form::new()
        .part("file", Part::bytes(bytes).file_name(name.to_owned()))
        .text("preset", "7")
}

async fn uploads(db: TestDb) {
    let sim = start_sim(5, 0).await;
    add_user(&db, "admin", "admin", ADMIN_PW);
    let server = Server::start(&db);
    let url = server.url("/jobs/sheets");

    // Without a session: nothing is read.
    let anonymous = server.client();
    let r = anonymous
        .post(&url)
        .multipart(form("a.csv", b"openid,x\no1,2\n".to_vec()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let client = server.client();
    let res = login(&client, &server, "admin", ADMIN_PW).await;
    let cookie = format!("wxpush_session={}", session_cookie(&res).unwrap());
    add_sim_oa(&client, &server, &sim).await;

    // A browser's form: back to the page with the upload.
    let csv = "\u{feff}openid,积分\r\noA,1280\r\noB,5\r\n"
        .as_bytes()
        .to_vec();
    let r = client
        .post(&url)
        .multipart(form("积分.csv", csv.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with("/jobs/new?sheet="), "{location}");
    assert!(location.ends_with("&preset=7"), "{location}");

    // A JSON client: 201 with what the file holds.
    let r = client
        .post(&url)
        .header("Accept", "application/json")
        .multipart(form("积分.csv", csv))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let summary: Value = r.json().await.unwrap();
    assert_eq!(summary["rows"], 2);
    assert_eq!(summary["person"], "openid");
    assert_eq!(summary["columns"], serde_json::json!(["积分"]));
    assert_eq!(summary["file_name"], "积分.csv");

    // Refusals: the browser gets them in the URL, a JSON client as a 422 naming the problem.
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    let r = client
        .post(&url)
        .multipart(form("x.png", png.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let location = r.headers()["location"].to_str().unwrap();
    assert!(
        location.starts_with("/jobs/new?sheet_refused="),
        "{location}"
    );
    assert!(location.contains("not_a_spreadsheet"), "{location}");
    let r = client
        .post(&url)
        .header("Accept", "application/json")
        .multipart(form("x.png", png))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["refusal"]["problem"]["code"], "not_a_spreadsheet");
    assert_eq!(body["refusal"]["field"], "file");
    let r = client
        .post(&url)
        .header("Accept", "application/json")
        .multipart(form(
            "h.csv",
            "openid,积分,,x\no1,1,2,3\n".as_bytes().to_vec(),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["message"],
        "表格文件：第 1 行 C 列：列名为空，但该列有数据"
    );
    let r = client
        .post(&url)
        .header("Accept", "application/json")
        .multipart(Form::new().text("preset", "1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // 200 MB announced: refused at once, before a byte of the body is sent.
    let (status, text) = announce_body(&server, "/jobs/sheets", 200 * 1024 * 1024, &cookie).await;
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("too_large"), "{text}");
}
on_both_databases!(uploads);
