//! One API message: who it was for and where it went, its state with WeChat's errcode in
//! words, attempts and receipt, the message exactly as sent, and its webhook deliveries.

use leptos::prelude::*;
use model::api_messages::ApiMessageDetail;
use model::webhook::WebhookDelivery;

use crate::dto::format_time_ms;
use crate::i18n::{tr, use_lang};
use crate::send_api::load_api_message;

#[component]
pub fn ApiMessagePage() -> impl IntoView {
    let lang = use_lang();
    let id = crate::url::use_id_param();
    let detail = Resource::new(id, load_api_message);
    view! {
        <p><a href="/api-messages">{tr("← 接口消息", "← API messages")}</a></p>
        <Transition fallback=|| view! { <p>"…"</p> }>
            {move || Suspend::new(async move {
                match detail.await {
                    Ok(d) => view! { <Detail d /> }.into_any(),
                    Err(e) => view! {
                        <h1>{tr("接口消息", "API message")}</h1>
                        <p class="form-error" role="alert">{move || e.message(lang.get())}</p>
                    }.into_any(),
                }
            })}
        </Transition>
    }
}

fn time(ms: Option<i64>) -> String {
    ms.map(format_time_ms).unwrap_or_else(|| "—".into())
}

#[component]
fn Detail(d: ApiMessageDetail) -> impl IntoView {
    let lang = use_lang();
    let ApiMessageDetail {
        entry,
        payload,
        webhook_url,
        deliveries,
    } = d;
    let m = entry.status;
    let state = m.state;
    let channel = m.channel;
    let delivery = m.delivery;
    let explanation = (m.explanation_zh.clone(), m.explanation_en.clone());
    let error = m.errcode.map(|code| {
        let errmsg = m.errmsg.clone().unwrap_or_default();
        view! {
            <dt>{tr("错误", "Error")}</dt>
            <dd>
                <code>{format!("{code} {errmsg}")}</code>
                <p>{move || lang.get().pick(explanation.0.clone(), explanation.1.clone()).unwrap_or_default()}</p>
            </dd>
        }
    });
    let hook = webhook_url.map(
        |url| view! { <p class="muted">{tr("回调地址：", "Webhook: ")}<code>{url}</code></p> },
    );
    let no_deliveries = deliveries.is_empty();
    let rows = deliveries
        .into_iter()
        .map(|d| view! { <DeliveryRow d /> })
        .collect_view();
    view! {
        <h1>{move || lang.get().pick(format!("接口消息 {}", m.id), format!("API message {}", m.id))}</h1>
        <section class="card" aria-labelledby="message-facts">
            <h2 id="message-facts">{tr("概况", "Summary")}</h2>
            <dl class="facts">
                <dt>{tr("状态", "State")}</dt>
                <dd><span class=format!("job-state state-{}", state.as_str())>{move || state.label(lang.get())}</span></dd>
                {error}
                <dt>{tr("收件人", "Recipient")}</dt>
                <dd><code>{format!("{} {}", m.to.kind(), m.to.id())}</code></dd>
                <dt>{tr("渠道", "Channel")}</dt>
                <dd>{move || channel.label(lang.get())} " → " <code>{m.openid.clone()}</code></dd>
                <dt>{tr("预设", "Preset")}</dt>
                <dd>{entry.preset_name.unwrap_or_else(|| "—".into())}</dd>
                <dt>{tr("密钥", "Key")}</dt>
                <dd>{entry.key_name}</dd>
                <dt>{tr("幂等键", "Idempotency key")}</dt>
                <dd><code>{m.idempotency_key.unwrap_or_else(|| "—".into())}</code></dd>
                <dt>{tr("发送次数", "Attempts")}</dt>
                <dd>{m.attempts}</dd>
                <dt>"msgid"</dt>
                <dd>{m.msgid.map(|i| i.to_string()).unwrap_or_else(|| "—".into())}</dd>
                <dt>{tr("送达回执", "Receipt")}</dt>
                <dd>{move || delivery.map(|d| d.label(lang.get()).to_owned()).unwrap_or_else(|| "—".into())}</dd>
                <dt>{tr("接收时间", "Accepted")}</dt>
                <dd>{format_time_ms(m.created_ms)}</dd>
                <dt>{tr("发送时间", "Sent")}</dt>
                <dd>{time(m.sent_ms)}</dd>
                <dt>{tr("回执时间", "Receipt at")}</dt>
                <dd>{time(m.delivery_ms)}</dd>
            </dl>
        </section>
        <section class="card" aria-labelledby="message-payload">
            <h2 id="message-payload">{tr("发给微信的消息", "The message as sent to WeChat")}</h2>
            <pre class="message-payload"><code>{payload}</code></pre>
        </section>
        <section class="card" aria-labelledby="message-webhook">
            <h2 id="message-webhook">{tr("状态回调", "Status webhook")}</h2>
            {hook}
            {no_deliveries.then(|| view! { <p class="muted">{tr("没有回调投递（密钥未设置回调地址，或消息尚未有结果）。", "No webhook deliveries (the key has no webhook, or the message has no outcome yet).")}</p> })}
            <table class="data" hidden=no_deliveries>
                <thead><tr>
                    <th scope="col">{tr("事件", "Event")}</th>
                    <th scope="col">{tr("状态", "State")}</th>
                    <th scope="col">{tr("尝试次数", "Attempts")}</th>
                    <th scope="col">{tr("最近结果", "Last answer")}</th>
                    <th scope="col">{tr("下次尝试", "Next try")}</th>
                </tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </section>
    }
}

#[component]
fn DeliveryRow(d: WebhookDelivery) -> impl IntoView {
    let lang = use_lang();
    let state = d.state;
    let answer = match (d.last_status, d.last_error) {
        (Some(s), Some(e)) => format!("HTTP {s} {e}"),
        (Some(s), None) => format!("HTTP {s}"),
        (None, Some(e)) => e,
        (None, None) => "—".into(),
    };
    let next = if state == model::webhook::DeliveryState::Pending {
        format_time_ms(d.next_try_ms)
    } else {
        "—".into()
    };
    view! {
        <tr>
            <th scope="row"><code>{d.event.as_str()}</code></th>
            <td>{move || state.label(lang.get())}</td>
            <td>{d.attempts}</td>
            <td>{answer}</td>
            <td>{next}</td>
        </tr>
    }
}
