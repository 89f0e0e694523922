//! CSV exports (followers, a job's recipients, the audit log), streamed page by page so a million
//! rows never sit in memory. Each checks the session (and the role) itself.

use model::AuditAction;
use std::collections::HashMap;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use engine::audit::Actor;
use engine::followers::{FollowerFilter, FollowerRow};
use tower_sessions::Session;

use app::audit::{describe, AuditQuery};
use app::auth::ssr::{current_staff, request_ip};
use app::dto::format_time_ms;
use app::followers::ssr::current_oa_of;
use app::state::AppState;

/// Rows fetched per database round trip.
const CHUNK: i64 = 5_000;

pub async fn followers_csv(
    State(state): State<AppState>,
    session: Session,
    Query(params): Query<HashMap<String, String>>,
    parts: axum::http::request::Parts,
) -> Response {
    let Ok(Some(staff)) = current_staff(&state, &session).await else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let Ok(Some(account)) = current_oa_of(&state, &session).await else {
        return (StatusCode::NOT_FOUND, "no Official Account").into_response();
    };
    let q = match FollowerFilter::from_query(|k| params.get(k).cloned()) {
        Ok(q) => q,
        Err(e) => return (StatusCode::BAD_REQUEST, e.message(app::i18n::Lang::Zh)).into_response(),
    };
    let actor = Actor::staff(
        staff.id,
        &staff.username,
        &request_ip(&parts, state.trust_forwarded_for),
    );
    let detail = serde_json::json!({ "filter": format!("{q:?}") });
    if let Err(e) = state
        .engine
        .audit(&actor, AuditAction::FollowersExport, &account.appid, detail)
        .await
    {
        tracing::error!("audit failed: {e}");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }

    let start = Some((state, account.id, q, None::<String>, true));
    let stream = futures::stream::unfold(start, |step| async move {
        let (state, id, q, after, first) = step?;
        let rows = match state
            .engine
            .followers_page(id, &q, after.as_deref(), CHUNK)
            .await
        {
            Ok(rows) => rows,
            Err(e) => return Some((Err(std::io::Error::other(e.to_string())), None)),
        };
        let mut out = String::new();
        if first {
            // A BOM so that Excel opens the UTF-8 file correctly.
            out.push_str("\u{feff}openid,unionid,subscribed,subscribe_time,tags,mp_openid\n");
        }
        for r in &rows {
            csv_line(&mut out, r);
        }
        let next = (rows.len() as i64 == CHUNK)
            .then(|| rows.last().map(|r| r.openid.clone()))
            .flatten();
        let state_next: Option<(AppState, i64, FollowerFilter, Option<String>, bool)> =
            next.map(|n| (state, id, q, Some(n), false));
        if out.is_empty() {
            return None;
        }
        Some((Ok::<_, std::io::Error>(Bytes::from(out)), state_next))
    });
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"followers.csv\"",
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

/// One CSV line; tags are joined with `;`.
fn csv_line(out: &mut String, r: &FollowerRow) {
    let tags = r
        .tags()
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(";");
    let time = r
        .subscribe_time
        .map(|s| format_time_ms(s * 1000))
        .unwrap_or_default();
    csv_record(
        out,
        &[
            &r.openid,
            r.unionid.as_deref().unwrap_or(""),
            if r.subscribed { "1" } else { "0" },
            &time,
            &tags,
            r.mp_openid.as_deref().unwrap_or(""),
        ],
    );
}

/// `GET /export/jobs/{id}.csv`: one line per recipient of a job of the session's Official
/// Account, with its state, error and receipt.
pub async fn job_csv(
    State(state): State<AppState>,
    session: Session,
    axum::extract::Path(file): axum::extract::Path<String>,
    parts: axum::http::request::Parts,
) -> Response {
    let Ok(Some(staff)) = current_staff(&state, &session).await else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let Some(id) = file
        .strip_suffix(".csv")
        .and_then(|s| s.parse::<i64>().ok())
    else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Ok(Some(account)) = current_oa_of(&state, &session).await else {
        return (StatusCode::NOT_FOUND, "no Official Account").into_response();
    };
    let columns = match state.engine.job(id).await {
        Ok(Some(job)) if job.account_id == account.id => job.columns,
        Ok(_) => return StatusCode::NOT_FOUND.into_response(),
        Err(e) => {
            tracing::error!("job export: {e}");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let actor = Actor::staff(
        staff.id,
        &staff.username,
        &request_ip(&parts, state.trust_forwarded_for),
    );
    let detail = serde_json::json!({ "job_id": id });
    if let Err(e) = state
        .engine
        .audit(&actor, AuditAction::JobExport, &account.appid, detail)
        .await
    {
        tracing::error!("audit failed: {e}");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let filter = engine::jobs::RecipientFilter::default();
    // A spreadsheet job adds the line in the file and each row's own values, a column each.
    let mut names = vec![
        "seq",
        "openid",
        "state",
        "attempts",
        "errcode",
        "errmsg",
        "skip_reason",
        "msgid",
        "delivery",
        "updated_at",
        "channel",
        "unionid",
        "earlier_failures",
    ];
    if !columns.is_empty() {
        names.push("line");
        names.extend(columns.iter().map(String::as_str));
    }
    // A BOM so that Excel opens the UTF-8 file correctly.
    let mut head = String::from("\u{feff}");
    csv_record(&mut head, &names);
    let sheet = !columns.is_empty();
    let stream = futures::stream::unfold(Some((state, 0i64, true)), move |step| {
        let filter = filter.clone();
        let head = head.clone();
        async move {
            let (state, after, first) = step?;
            let rows = match state.engine.job_recipients(id, &filter, after, CHUNK).await {
                Ok(rows) => rows,
                Err(e) => return Some((Err(std::io::Error::other(e.to_string())), None)),
            };
            let mut out = String::new();
            if first {
                out.push_str(&head);
            }
            for r in &rows {
                let line = r.line.map(|l| l.to_string()).unwrap_or_default();
                let failures = r
                    .earlier_failures
                    .iter()
                    .map(|f| {
                        format!(
                            "{} {}",
                            f.errcode.map(|c| c.to_string()).unwrap_or_default(),
                            format_time_ms(f.failed_ms.unwrap_or(f.retried_ms))
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(";");
                let (seq, attempts) = (r.seq.to_string(), r.attempts.to_string());
                let errcode = r.errcode.map(|c| c.to_string()).unwrap_or_default();
                let msgid = r.msgid.map(|m| m.to_string()).unwrap_or_default();
                let updated = format_time_ms(r.updated_ms);
                let mut cells: Vec<&str> = vec![
                    &seq,
                    &r.openid,
                    r.state.as_str(),
                    &attempts,
                    &errcode,
                    r.errmsg.as_deref().unwrap_or(""),
                    r.skip_reason.map_or("", |x| x.as_str()),
                    &msgid,
                    r.delivery.map_or("", |d| d.as_str()),
                    &updated,
                    // Which id `openid` is: template = the OA's, subscribe = the MP's.
                    r.channel.as_str(),
                    r.unionid.as_deref().unwrap_or(""),
                    // Failures before "retry failed": `errcode at time`, `;`-separated.
                    &failures,
                ];
                if sheet {
                    cells.push(&line);
                    cells.extend(r.values.iter().map(String::as_str));
                }
                csv_record(&mut out, &cells);
            }
            let next = (rows.len() as i64 == CHUNK)
                .then(|| rows.last().map(|r| r.seq))
                .flatten()
                .map(|seq| (state, seq, false));
            if out.is_empty() {
                return None;
            }
            Some((Ok::<_, std::io::Error>(Bytes::from(out)), next))
        }
    });
    let disposition = format!("attachment; filename=\"job-{id}.csv\"");
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

/// `GET /export/audit.csv?action=…&actor=…&from=…&until=…&q=…`: the audit log with the audit
/// page's filters, newest first, for admins only (401 without a session, 403 for operators).
/// Exporting is itself audited. The log holds no secrets, so neither does the file.
pub async fn audit_csv(
    State(state): State<AppState>,
    session: Session,
    Query(params): Query<HashMap<String, String>>,
    parts: axum::http::request::Parts,
) -> Response {
    let Ok(Some(staff)) = current_staff(&state, &session).await else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    if staff.role != engine::Role::Admin {
        return StatusCode::FORBIDDEN.into_response();
    }
    let query = AuditQuery::from_query(|k| params.get(k).cloned());
    let filter = match app::audit::ssr::filter(&query) {
        Ok(f) => f,
        Err(e) => return (StatusCode::BAD_REQUEST, e.message(app::i18n::Lang::Zh)).into_response(),
    };
    let actor = Actor::staff(
        staff.id,
        &staff.username,
        &request_ip(&parts, state.trust_forwarded_for),
    );
    let detail = serde_json::json!({
        "action": query.action,
        "actor": query.actor,
        "from": query.from,
        "until": query.until,
        "q": query.q,
    });
    if let Err(e) = state
        .engine
        .audit(&actor, AuditAction::AuditExport, "audit_log", detail)
        .await
    {
        tracing::error!("audit failed: {e}");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let stream = futures::stream::unfold(Some((state, None::<i64>, true)), move |step| {
        let filter = filter.clone();
        async move {
            let (state, before, first) = step?;
            let rows = match state.engine.audit_page(&filter, before, CHUNK).await {
                Ok(rows) => rows,
                Err(e) => return Some((Err(std::io::Error::other(e.to_string())), None)),
            };
            let mut out = String::new();
            if first {
                out.push_str("\u{feff}id,time,actor,action,action_zh,action_en,target,detail,ip\n");
            }
            for r in &rows {
                csv_record(
                    &mut out,
                    &[
                        &r.id.to_string(),
                        &format_time_ms(r.at_ms),
                        &r.actor,
                        &r.action,
                        &describe(&r.action, &r.detail, app::i18n::Lang::Zh),
                        &describe(&r.action, &r.detail, app::i18n::Lang::En),
                        &r.target,
                        &r.detail,
                        &r.ip,
                    ],
                );
            }
            let next = (rows.len() as i64 == CHUNK)
                .then(|| rows.last().map(|r| r.id))
                .flatten()
                .map(|id| (state, Some(id), false));
            if out.is_empty() {
                return None;
            }
            Some((Ok::<_, std::io::Error>(Bytes::from(out)), next))
        }
    });
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"audit.csv\"",
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

/// Appends one CSV record (RFC 4180 quoting, by the `csv` crate), every cell neutralised.
fn csv_record(out: &mut String, cells: &[&str]) {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    let written = writer
        .write_record(cells.iter().map(|c| neutralise(c).into_owned()))
        .and_then(|()| writer.flush().map_err(csv::Error::from));
    match (written, writer.into_inner()) {
        (Ok(()), Ok(bytes)) => out.push_str(&String::from_utf8_lossy(&bytes)),
        _ => out.push('\n'),
    }
}

/// OWASP's CSV-injection rule: a cell a spreadsheet would read as a formula (first character
/// `=`, `+`, `-`, `@`, tab or CR) gets a leading `'`, which makes it text. A plain number such
/// as the errcode `-1` is no formula and stays as it is.
fn neutralise(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) && !is_plain_number(cell) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

/// `-1`, `+86`, `3.5`: an optional sign, digits, at most one decimal point.
fn is_plain_number(cell: &str) -> bool {
    let digits = cell.strip_prefix(['-', '+']).unwrap_or(cell);
    let mut parts = digits.splitn(2, '.');
    let whole = parts.next().unwrap_or("");
    let fraction = parts.next();
    !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(cells: &[&str]) -> String {
        let mut out = String::new();
        csv_record(&mut out, cells);
        out
    }

    #[test]
    fn formulas_become_text_and_numbers_stay() {
        assert_eq!(
            line(&["=cmd|' /C calc'!A0", "-1", "+86", "@SUM(A1)", "-x", "ok"]),
            "'=cmd|' /C calc'!A0,-1,+86,'@SUM(A1),'-x,ok\n"
        );
        assert_eq!(line(&["\tx", "\rx"]), "'\tx,\"'\rx\"\n");
        assert_eq!(line(&["a,b", "say \"hi\""]), "\"a,b\",\"say \"\"hi\"\"\"\n");
        assert_eq!(line(&["-1.5", "1.", "--1"]), "-1.5,1.,'--1\n");
    }
}
