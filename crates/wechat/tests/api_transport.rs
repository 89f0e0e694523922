//! The client over real local TCP: request shapes, timeouts, HTTP errors and odd Content-Types.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wechat::api::{ApiError, Client, ErrorClass, TemplateMessage, TemplateValue};

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    /// Path and query, e.g. `/cgi-bin/user/get?access_token=T`.
    target: String,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

impl Seen {
    fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    fn query(&self) -> Vec<(String, String)> {
        let query = self.target.split_once('?').map_or("", |(_, q)| q);
        url_pairs(query)
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// Minimal `application/x-www-form-urlencoded` decoding for the query string.
fn url_pairs(query: &str) -> Vec<(String, String)> {
    fn unescape(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                    out.push(u8::from_str_radix(hex, 16).unwrap());
                    i += 2;
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8(out).unwrap()
    }
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (unescape(k), unescape(v))
        })
        .collect()
}

/// What the fake server does with each connection.
#[derive(Clone)]
enum Behaviour {
    /// Answer each request with the next raw HTTP response (the last one repeats).
    Respond(Arc<Mutex<VecDeque<String>>>),
    /// Read the request, then never answer.
    Hang,
}

struct Server {
    base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    accepted: Arc<AtomicUsize>,
}

impl Server {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// `HTTP/1.1 <status>` with the given content type and body, closing the connection.
fn http(status: &str, content_type: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn ok_json(body: &str) -> String {
    http("200 OK", "application/json; encoding=utf-8", body)
}

async fn serve(behaviour: Behaviour) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let accepted = Arc::new(AtomicUsize::new(0));
    let (seen2, accepted2) = (seen.clone(), accepted.clone());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            accepted2.fetch_add(1, Ordering::SeqCst);
            let (seen, behaviour) = (seen2.clone(), behaviour.clone());
            tokio::spawn(handle(stream, seen, behaviour));
        }
    });
    Server {
        base,
        seen,
        accepted,
    }
}

async fn handle(mut stream: TcpStream, seen: Arc<Mutex<Vec<Seen>>>, behaviour: Behaviour) {
    let Some(request) = read_request(&mut stream).await else {
        return;
    };
    seen.lock().unwrap().push(request);
    match behaviour {
        Behaviour::Respond(queue) => {
            let response = {
                let mut queue = queue.lock().unwrap();
                if queue.len() > 1 {
                    queue.pop_front().unwrap()
                } else {
                    queue.front().cloned().unwrap()
                }
            };
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        }
        Behaviour::Hang => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            drop(stream);
        }
    }
}

async fn read_request(stream: &mut TcpStream) -> Option<Seen> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let header_end = loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_owned();
    let target = request_line.next()?.to_owned();
    let headers: BTreeMap<String, String> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[header_end..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Seen {
        method,
        target,
        headers,
        body,
    })
}

fn responding(responses: &[String]) -> Behaviour {
    Behaviour::Respond(Arc::new(Mutex::new(responses.iter().cloned().collect())))
}

fn client() -> Client {
    Client::with_timeouts(Duration::from_secs(2), Duration::from_secs(5)).unwrap()
}

// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn server_that_never_answers_is_a_timeout() {
    let server = serve(Behaviour::Hang).await;
    let client = Client::with_timeouts(Duration::from_secs(2), Duration::from_millis(300)).unwrap();
    let started = std::time::Instant::now();
    let err = client.tags(&server.base, "TOKEN").await.unwrap_err();
    assert_eq!(err, ApiError::Timeout);
    assert_eq!(err.class(), ErrorClass::RetryLater);
    assert!(err.is_retryable());
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(server.seen().len(), 1, "the request did reach the server");
}

#[tokio::test]
async fn bad_gateway_is_http_502_retry_later() {
    let server = serve(responding(&[http(
        "502 Bad Gateway",
        "text/html",
        "<html><body><h1>502 Bad Gateway</h1></body></html>",
    )]))
    .await;
    let message = TemplateMessage {
        touser: "o1".into(),
        template_id: "T1".into(),
        url: None,
        miniprogram: None,
        client_msg_id: None,
        data: [("thing1".to_owned(), TemplateValue::new("x"))].into(),
    };
    let err = client()
        .send_template(&server.base, "TOKEN", &message)
        .await
        .unwrap_err();
    assert_eq!(err, ApiError::Http { status: 502 });
    assert_eq!(err.class(), ErrorClass::RetryLater);
}

#[tokio::test]
async fn text_plain_errcode_body_is_still_parsed() {
    // A real 2024 jscode2session 40029 came back as text/plain.
    let server = serve(responding(&[http(
        "200 OK",
        "text/plain",
        r#"{"errcode":40029,"errmsg":"invalid code, rid: 66c69111-4157f271-729ca238"}"#,
    )]))
    .await;
    let err = client()
        .jscode2session(&server.base, "wxAPPID", "APPSECRET", "0a3Xyz")
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ApiError::WeChat {
            code: 40029,
            message: "invalid code, rid: 66c69111-4157f271-729ca238".into()
        }
    );
    assert_eq!(err.class(), ErrorClass::BadRequest);
    let seen = server.seen();
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].path(), "/sns/jscode2session");
    let query = seen[0].query();
    for pair in [
        ("appid", "wxAPPID"),
        ("secret", "APPSECRET"),
        ("js_code", "0a3Xyz"),
        ("grant_type", "authorization_code"),
    ] {
        assert!(
            query.contains(&(pair.0.to_owned(), pair.1.to_owned())),
            "{query:?}"
        );
    }
}

#[tokio::test]
async fn text_plain_success_body_is_parsed() {
    let server = serve(responding(&[http(
        "200 OK",
        "text/plain",
        r#"{"session_key":"tiihtNczf5v6AKRyjwEUhQ==","openid":"oGZUI0egBJY1zhBYw2KhdUfwVJJE"}"#,
    )]))
    .await;
    let session = client()
        .jscode2session(&server.base, "wxAPPID", "APPSECRET", "code")
        .await
        .unwrap();
    assert_eq!(session.openid, "oGZUI0egBJY1zhBYw2KhdUfwVJJE");
}

#[tokio::test]
async fn wechat_error_on_a_5xx_status_keeps_its_code() {
    let server = serve(responding(&[http(
        "500 Internal Server Error",
        "application/json",
        r#"{"errcode":-1,"errmsg":"system error rid: 650bbf8d-3624ab23-434f770f"}"#,
    )]))
    .await;
    let err = client().tags(&server.base, "TOKEN").await.unwrap_err();
    assert_eq!(err.code(), Some(-1));
    assert_eq!(err.class(), ErrorClass::RetryLater);
}

#[tokio::test]
async fn html_body_on_200_is_decode_error() {
    let server = serve(responding(&[http(
        "200 OK",
        "text/html",
        "<html><title>Portal login</title></html>",
    )]))
    .await;
    let err = client().tags(&server.base, "TOKEN").await.unwrap_err();
    match &err {
        ApiError::Decode(message) => assert!(message.contains("Portal login"), "{message}"),
        other => panic!("expected Decode, got {other:?}"),
    }
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let server = serve(responding(&[
        "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:9/steal\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_owned(),
    ]))
    .await;
    let err = client().tags(&server.base, "TOKEN").await.unwrap_err();
    assert_eq!(err, ApiError::Http { status: 302 });
}

#[tokio::test]
async fn connection_refused_is_transport_without_the_token() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let base = format!("http://127.0.0.1:{port}");
    let err = client()
        .tags(&base, "92_SUPERSECRETTOKEN")
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::Transport(_)), "{err:?}");
    assert_eq!(err.class(), ErrorClass::RetryLater);
    assert!(!err.to_string().contains("SUPERSECRET"), "{err}");
    assert!(!err.explain(false).contains("SUPERSECRET"));

    let err = client()
        .token(&base, "wxAPPID", "APPSECRET_VALUE")
        .await
        .unwrap_err();
    assert!(!format!("{err:?}").contains("APPSECRET_VALUE"), "{err:?}");
}

#[tokio::test]
async fn stable_token_posts_json_and_tolerates_trailing_slash() {
    let server = serve(responding(&[ok_json(
        r#"{"access_token":"92_xHDwf9rTa_ZCiq","expires_in":7200}"#,
    )]))
    .await;
    let token = client()
        .stable_token(&format!("{}/", server.base), "wxAPPID", "APPSECRET", false)
        .await
        .unwrap();
    assert_eq!(token.access_token, "92_xHDwf9rTa_ZCiq");
    assert_eq!(token.expires_in, 7200);
    let seen = server.seen();
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].target, "/cgi-bin/stable_token");
    assert!(seen[0].headers["content-type"].starts_with("application/json"));
    assert_eq!(
        seen[0].json(),
        json!({"grant_type":"client_credential","appid":"wxAPPID","secret":"APPSECRET","force_refresh":false})
    );
}

#[tokio::test]
async fn token_uses_query_string() {
    let server = serve(responding(&[ok_json(
        r#"{"access_token":"ACCESS_TOKEN","expires_in":7200}"#,
    )]))
    .await;
    client()
        .token(&server.base, "wxAPPID", "APP&SECRET")
        .await
        .unwrap();
    let seen = server.seen();
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].path(), "/cgi-bin/token");
    assert_eq!(
        seen[0].query(),
        vec![
            ("grant_type".to_owned(), "client_credential".to_owned()),
            ("appid".to_owned(), "wxAPPID".to_owned()),
            ("secret".to_owned(), "APP&SECRET".to_owned()),
        ]
    );
}

#[tokio::test]
async fn send_template_posts_the_previewed_json_with_token_in_query() {
    let server = serve(responding(&[ok_json(
        r#"{"errcode":0,"errmsg":"ok","msgid":3428411849815982087}"#,
    )]))
    .await;
    let message = TemplateMessage {
        touser: "OPENID".into(),
        template_id: "T1".into(),
        url: Some("http://weixin.qq.com/download".into()),
        miniprogram: None,
        client_msg_id: Some("MSG_000001".into()),
        data: [("keyword1".to_owned(), TemplateValue::new("巧克力"))].into(),
    };
    let msgid = client()
        .send_template(&server.base, "TOKEN/+=", &message)
        .await
        .unwrap();
    assert_eq!(msgid, 3428411849815982087);
    let seen = server.seen();
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].path(), "/cgi-bin/message/template/send");
    assert_eq!(
        seen[0].query(),
        vec![("access_token".to_owned(), "TOKEN/+=".to_owned())]
    );
    assert_eq!(seen[0].json(), message.to_json());
}

#[tokio::test]
async fn user_get_paging_stops_on_the_last_page() {
    let server = serve(responding(&[
        ok_json(r#"{"total":1,"count":1,"data":{"openid":["X"]},"next_openid":"X"}"#),
        ok_json(r#"{"total":1,"count":0,"next_openid":""}"#),
    ]))
    .await;
    let client = client();
    let mut all = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let page = client
            .user_get(&server.base, "TOKEN", next.as_deref())
            .await
            .unwrap();
        all.extend(page.openids.iter().cloned());
        if page.is_last(all.len() as i64) {
            break;
        }
        next = page.next_openid.clone();
    }
    assert_eq!(all, vec!["X".to_owned()]);
    let seen = server.seen();
    assert_eq!(seen.len(), 1, "fetched >= total: no call past the end");
    assert_eq!(
        seen[0].query(),
        vec![("access_token".to_owned(), "TOKEN".to_owned())]
    );

    // The call past the end (as a client using only next_openid would make) also stops.
    let page = client
        .user_get(&server.base, "TOKEN", Some("X"))
        .await
        .unwrap();
    assert!(page.is_last(1));
    assert!(page.openids.is_empty());
    let seen = server.seen();
    assert_eq!(seen[1].path(), "/cgi-bin/user/get");
    assert!(seen[1]
        .query()
        .contains(&("next_openid".to_owned(), "X".to_owned())));
}

#[tokio::test]
async fn batchget_refuses_more_than_100_without_sending() {
    let server = serve(responding(&[ok_json(r#"{"user_info_list":[]}"#)])).await;
    let openids: Vec<String> = (0..101).map(|i| format!("o{i}")).collect();
    let err = client()
        .user_info_batch(&server.base, "TOKEN", &openids)
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::Request(_)), "{err:?}");
    assert_eq!(err.class(), ErrorClass::BadRequest);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        server.accepted.load(Ordering::SeqCst),
        0,
        "nothing was sent"
    );

    // Empty → no request either.
    let none = client()
        .user_info_batch(&server.base, "TOKEN", &[])
        .await
        .unwrap();
    assert!(none.is_empty());
    assert_eq!(server.accepted.load(Ordering::SeqCst), 0);

    // Exactly 100 goes out, each with lang zh_CN.
    client()
        .user_info_batch(&server.base, "TOKEN", &openids[..100])
        .await
        .unwrap();
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path(), "/cgi-bin/user/info/batchget");
    let body = seen[0].json();
    let list = body["user_list"].as_array().unwrap();
    assert_eq!(list.len(), 100);
    assert_eq!(list[0], json!({"openid":"o0","lang":"zh_CN"}));
}

#[tokio::test]
async fn remaining_endpoints_hit_the_documented_paths() {
    let server = serve(responding(&[
        ok_json(r#"{"subscribe":0,"openid":"xx","tagid_list":[]}"#),
        ok_json(r#"{"template_list":[]}"#),
        ok_json(r#"{"errcode":0,"errmsg":"ok","data":[]}"#),
        ok_json(r#"{"errcode":0,"errmsg":"ok"}"#),
    ]))
    .await;
    let c = client();
    let user = c
        .user_info(&server.base, "TOKEN", "xx", Some("en"))
        .await
        .unwrap();
    assert!(!user.subscribe);
    assert!(c.templates(&server.base, "TOKEN").await.unwrap().is_empty());
    assert!(c
        .mp_templates(&server.base, "TOKEN")
        .await
        .unwrap()
        .is_empty());
    let message = wechat::api::SubscribeMessage {
        touser: "o1".into(),
        template_id: "T".into(),
        page: None,
        miniprogram_state: None,
        lang: None,
        data: BTreeMap::new(),
    };
    assert_eq!(
        c.send_subscribe(&server.base, "TOKEN", &message)
            .await
            .unwrap(),
        None
    );
    let seen = server.seen();
    let targets: Vec<(&str, &str)> = seen.iter().map(|s| (s.method.as_str(), s.path())).collect();
    assert_eq!(
        targets,
        vec![
            ("GET", "/cgi-bin/user/info"),
            ("GET", "/cgi-bin/template/get_all_private_template"),
            ("GET", "/wxaapi/newtmpl/gettemplate"),
            ("POST", "/cgi-bin/message/subscribe/send"),
        ]
    );
    assert_eq!(
        seen[0].query(),
        vec![
            ("access_token".to_owned(), "TOKEN".to_owned()),
            ("openid".to_owned(), "xx".to_owned()),
            ("lang".to_owned(), "en".to_owned()),
        ]
    );
    for s in &seen {
        assert!(s
            .query()
            .contains(&("access_token".to_owned(), "TOKEN".to_owned())));
    }
    assert_eq!(seen[3].json(), message.to_json());
}
