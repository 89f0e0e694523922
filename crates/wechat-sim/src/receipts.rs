//! Pushes to the OA's server URL (TEMPLATESENDJOBFINISH receipts, follow/unfollow events) and to
//! the Mini Program's (subscribe-message popup, change and sent events), signed (plain) or
//! encrypted (compat/safe) with the account's appid, with WeChat's 3 attempts; failures are only
//! logged.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::Rng as _;
use serde::Serialize;
use tokio::sync::Semaphore;
use wechat::callback::crypto::encrypt;
use wechat::callback::signature::{msg_signature, signature};
use wechat::callback::AesKey;

use crate::config::{CallbackConfig, CallbackMode, ReceiptConfig};
use crate::error::SimError;
use crate::state::{AccountKind, SimState};

/// A callback configuration with its key decoded.
#[derive(Debug)]
pub struct ActiveCallback {
    pub config: CallbackConfig,
    key: Option<AesKey>,
}

impl ActiveCallback {
    /// Validates the URL, mode and key.
    pub fn from_config(config: &CallbackConfig) -> Result<Self, SimError> {
        if !(config.url.starts_with("http://") || config.url.starts_with("https://")) {
            return Err(SimError::Config(format!(
                "callback url must be http(s): {}",
                config.url
            )));
        }
        if config.token.is_empty() {
            return Err(SimError::Config("callback token must not be empty".into()));
        }
        let key = match config.encoding_aes_key.as_deref().filter(|k| !k.is_empty()) {
            Some(k) => Some(
                AesKey::from_encoding_aes_key(k)
                    .map_err(|e| SimError::Config(format!("callback encoding_aes_key: {e}")))?,
            ),
            None => None,
        };
        if config.mode != CallbackMode::Plain && key.is_none() {
            return Err(SimError::Config(
                "callback mode compat/safe needs an encoding_aes_key".into(),
            ));
        }
        Ok(Self {
            config: config.clone(),
            key,
        })
    }
}

/// Push counters.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct ReceiptStats {
    /// Pushes the server answered with 2xx.
    pub pushed: u64,
    /// Pushes given up after every attempt.
    pub failed: u64,
    /// Attempts that failed (including ones retried successfully).
    pub failed_attempts: u64,
    /// Pushes queued or in flight.
    pub pending: u64,
}

/// The push machinery.
#[derive(Debug)]
pub struct Receipts {
    client: reqwest::Client,
    permits: Arc<Semaphore>,
    attempts: u32,
    retry_delay: Duration,
    delay: Duration,
    pushed: AtomicU64,
    failed: AtomicU64,
    failed_attempts: AtomicU64,
    pending: AtomicU64,
}

impl Receipts {
    /// Push machinery for `config`.
    pub fn new(config: &ReceiptConfig) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            .user_agent("Mozilla/4.0")
            .build()
            .unwrap_or_default();
        Self {
            client,
            permits: Arc::new(Semaphore::new(config.concurrency.max(1))),
            attempts: config.attempts.max(1),
            retry_delay: Duration::from_millis(config.retry_delay_ms),
            delay: Duration::from_millis(config.delay_ms),
            pushed: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            failed_attempts: AtomicU64::new(0),
            pending: AtomicU64::new(0),
        }
    }

    /// Counters.
    pub fn stats(&self) -> ReceiptStats {
        ReceiptStats {
            pushed: self.pushed.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            failed_attempts: self.failed_attempts.load(Ordering::Relaxed),
            pending: self.pending.load(Ordering::Relaxed),
        }
    }
}

/// The TEMPLATESENDJOBFINISH XML of §4.4.
pub fn template_finish_xml(
    gh_id: &str,
    openid: &str,
    create_time: i64,
    msgid: i64,
    status: &str,
) -> String {
    format!(
        "<xml>\n  <ToUserName><![CDATA[{gh_id}]]></ToUserName>\n  <FromUserName><![CDATA[{openid}]]></FromUserName>\n  <CreateTime>{create_time}</CreateTime>\n  <MsgType><![CDATA[event]]></MsgType>\n  <Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event>\n  <MsgID>{msgid}</MsgID>\n  <Status><![CDATA[{status}]]></Status>\n</xml>"
    )
}

/// A subscribe / unsubscribe event XML.
pub fn follow_event_xml(gh_id: &str, openid: &str, create_time: i64, subscribe: bool) -> String {
    let event = if subscribe {
        "subscribe"
    } else {
        "unsubscribe"
    };
    format!(
        "<xml>\n  <ToUserName><![CDATA[{gh_id}]]></ToUserName>\n  <FromUserName><![CDATA[{openid}]]></FromUserName>\n  <CreateTime>{create_time}</CreateTime>\n  <MsgType><![CDATA[event]]></MsgType>\n  <Event><![CDATA[{event}]]></Event>\n  <EventKey><![CDATA[]]></EventKey>\n</xml>"
    )
}

/// A subscribe-message event; `items` are the inner XML of its `<List>` elements.
fn subscribe_event_xml(
    gh_id: &str,
    openid: &str,
    create_time: i64,
    event: &str,
    wrapper: &str,
    items: &[String],
) -> String {
    let mut xml = format!(
        "<xml>\n  <ToUserName><![CDATA[{gh_id}]]></ToUserName>\n  <FromUserName><![CDATA[{openid}]]></FromUserName>\n  <CreateTime>{create_time}</CreateTime>\n  <MsgType><![CDATA[event]]></MsgType>\n  <Event><![CDATA[{event}]]></Event>\n  <{wrapper}>\n"
    );
    for item in items {
        let _ = write!(xml, "    <List>\n{item}    </List>\n");
    }
    let _ = write!(xml, "  </{wrapper}>\n</xml>");
    xml
}

/// `subscribe_msg_popup_event`: the user answered `wx.requestSubscribeMessage`
/// (`PopupScene` 0 = a Mini Program page).
pub fn subscribe_popup_xml(
    gh_id: &str,
    openid: &str,
    create_time: i64,
    template_id: &str,
    status: &str,
) -> String {
    let item = format!(
        "      <TemplateId><![CDATA[{template_id}]]></TemplateId>\n      <SubscribeStatusString><![CDATA[{status}]]></SubscribeStatusString>\n      <PopupScene>0</PopupScene>\n"
    );
    subscribe_event_xml(
        gh_id,
        openid,
        create_time,
        "subscribe_msg_popup_event",
        "SubscribeMsgPopupEvent",
        &[item],
    )
}

/// `subscribe_msg_change_event`: the user switched a template on or off in the settings.
pub fn subscribe_change_xml(
    gh_id: &str,
    openid: &str,
    create_time: i64,
    template_id: &str,
    status: &str,
) -> String {
    let item = format!(
        "      <TemplateId><![CDATA[{template_id}]]></TemplateId>\n      <SubscribeStatusString><![CDATA[{status}]]></SubscribeStatusString>\n"
    );
    subscribe_event_xml(
        gh_id,
        openid,
        create_time,
        "subscribe_msg_change_event",
        "SubscribeMsgChangeEvent",
        &[item],
    )
}

/// `subscribe_msg_sent_event`: the result of a `subscribe/send`.
pub fn subscribe_sent_xml(
    gh_id: &str,
    openid: &str,
    create_time: i64,
    template_id: &str,
    msgid: i64,
    error_code: i64,
    error_status: &str,
) -> String {
    let item = format!(
        "      <TemplateId><![CDATA[{template_id}]]></TemplateId>\n      <MsgID>{msgid}</MsgID>\n      <ErrorCode>{error_code}</ErrorCode>\n      <ErrorStatus><![CDATA[{error_status}]]></ErrorStatus>\n"
    );
    subscribe_event_xml(
        gh_id,
        openid,
        create_time,
        "subscribe_msg_sent_event",
        "SubscribeMsgSentEvent",
        &[item],
    )
}

/// The URL and body of one push.
fn build_request(
    cb: &ActiveCallback,
    appid: &str,
    gh_id: &str,
    openid: Option<&str>,
    xml: &str,
    now_secs: i64,
    nonce: u32,
) -> (String, String) {
    let timestamp = now_secs.to_string();
    let nonce = nonce.to_string();
    let sig = signature(&cb.config.token, &timestamp, &nonce);
    let sep = if cb.config.url.contains('?') {
        '&'
    } else {
        '?'
    };
    let mut url = format!(
        "{}{sep}signature={sig}&timestamp={timestamp}&nonce={nonce}",
        cb.config.url
    );
    // The OA adds the user's openid to the URL; Mini Program pushes do not.
    if let Some(openid) = openid {
        let _ = write!(url, "&openid={openid}");
    }
    let key = match (&cb.key, cb.config.mode) {
        (Some(key), CallbackMode::Compat | CallbackMode::Safe) => key,
        _ => return (url, xml.to_owned()),
    };
    let encrypted = encrypt(key, xml, appid);
    let msg_sig = msg_signature(&cb.config.token, &timestamp, &nonce, &encrypted);
    let _ = write!(url, "&encrypt_type=aes&msg_signature={msg_sig}");
    let body = if cb.config.mode == CallbackMode::Safe {
        format!(
            "<xml>\n  <ToUserName><![CDATA[{gh_id}]]></ToUserName>\n  <Encrypt><![CDATA[{encrypted}]]></Encrypt>\n</xml>"
        )
    } else {
        let head = xml.strip_suffix("</xml>").unwrap_or(xml);
        format!("{head}  <Encrypt><![CDATA[{encrypted}]]></Encrypt>\n</xml>")
    };
    (url, body)
}

/// Queues a push of `xml` (about `openid`) to the OA's callback; no callback → nothing.
pub fn push(
    state: &Arc<SimState>,
    openid: String,
    xml_for: impl FnOnce(i64) -> String + Send + 'static,
) {
    push_to(state, AccountKind::Oa, openid, xml_for);
}

/// Queues a push of `xml` (about `openid`) to the callback of `account`, encrypted with that
/// account's appid; no callback → nothing. `xml_for` gets the push time (unix seconds).
pub fn push_to(
    state: &Arc<SimState>,
    account: AccountKind,
    openid: String,
    xml_for: impl FnOnce(i64) -> String + Send + 'static,
) {
    let configured = match account {
        AccountKind::Oa => state.callback.read().clone(),
        AccountKind::Mp => state.mp_callback.read().clone(),
    };
    let Some(cb) = configured else {
        return;
    };
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::warn!("wechat-sim: push skipped, no Tokio runtime on this thread");
        return;
    };
    state.receipts.pending.fetch_add(1, Ordering::Relaxed);
    let state = Arc::clone(state);
    runtime.spawn(async move {
        let receipts = &state.receipts;
        let Ok(_permit) = Arc::clone(&receipts.permits).acquire_owned().await else {
            receipts.pending.fetch_sub(1, Ordering::Relaxed);
            return;
        };
        if !receipts.delay.is_zero() {
            tokio::time::sleep(receipts.delay).await;
        }
        let now = state.clock.now_secs();
        let nonce = state.rng.lock().random_range(100_000_000..1_000_000_000u32);
        let xml = xml_for(now);
        let (appid, gh_id, openid) = match account {
            AccountKind::Oa => (
                &state.config.oa_appid,
                &state.config.oa_gh_id,
                Some(openid.as_str()),
            ),
            AccountKind::Mp => (&state.config.mp_appid, &state.config.mp_gh_id, None),
        };
        let (url, body) = build_request(&cb, appid, gh_id, openid, &xml, now, nonce);
        let mut delivered = false;
        for attempt in 1..=receipts.attempts {
            let result = receipts
                .client
                .post(&url)
                .header("content-type", "text/xml")
                .body(body.clone())
                .send()
                .await;
            match result {
                Ok(resp) if resp.status().is_success() => {
                    delivered = true;
                    break;
                }
                Ok(resp) => {
                    tracing::warn!(status = %resp.status(), attempt, "wechat-sim: callback push refused");
                }
                Err(err) => {
                    tracing::warn!(error = %err, attempt, "wechat-sim: callback push failed");
                }
            }
            receipts.failed_attempts.fetch_add(1, Ordering::Relaxed);
            if attempt < receipts.attempts {
                tokio::time::sleep(receipts.retry_delay).await;
            }
        }
        if delivered {
            receipts.pushed.fetch_add(1, Ordering::Relaxed);
        } else {
            receipts.failed.fetch_add(1, Ordering::Relaxed);
        }
        receipts.pending.fetch_sub(1, Ordering::Relaxed);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use wechat::callback::crypto::decrypt;

    #[test]
    fn safe_mode_body_decrypts_and_signs() {
        let cb = ActiveCallback::from_config(&CallbackConfig {
            url: "http://127.0.0.1:1/cb".into(),
            token: "AAAAA".into(),
            encoding_aes_key: Some("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG".into()),
            mode: CallbackMode::Safe,
        })
        .unwrap();
        let xml = template_finish_xml("gh_1", "oX", 1, 3_400_000_000_000_000_001, "success");
        let (url, body) =
            build_request(&cb, "wx1", "gh_1", Some("oX"), &xml, 1714112445, 415670741);
        assert!(url.contains("signature=") && url.contains("encrypt_type=aes&msg_signature="));
        let enc = body
            .split("<Encrypt><![CDATA[")
            .nth(1)
            .unwrap()
            .split("]]>")
            .next()
            .unwrap();
        let key =
            AesKey::from_encoding_aes_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG").unwrap();
        assert_eq!(decrypt(&key, enc, "wx1").unwrap(), xml);
        let expected = msg_signature("AAAAA", "1714112445", "415670741", enc);
        assert!(url.ends_with(&format!("msg_signature={expected}")));
    }
}
