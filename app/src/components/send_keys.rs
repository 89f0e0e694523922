//! The send API's keys on the settings page (admins): create one for the Official Account the
//! session works on (shown once), see what each may use, revoke.

use leptos::prelude::*;
use model::send_api::{PresetScope, SendKey, KEY_NAME_MAX, KEY_RATE_DEFAULT, KEY_RATE_MAX};

use crate::components::new_key::{KeyState, NewKeyNotice};
use crate::dto::format_time_ms;
use crate::i18n::{tr, use_lang};
use crate::send_api::{
    list_send_keys, CreateSendKey, RevokeSendKey, SendKeysDto, SetSendKeyWebhook,
};
use model::api_messages::SendKeyStats;

#[component]
pub fn SendKeys() -> impl IntoView {
    let create = ServerAction::<CreateSendKey>::new();
    let revoke = ServerAction::<RevokeSendKey>::new();
    let webhook = ServerAction::<SetSendKeyWebhook>::new();
    let keys = Resource::new(
        move || {
            (
                create.version().get(),
                revoke.version().get(),
                webhook.version().get(),
            )
        },
        |_| list_send_keys(),
    );
    view! {
        <section class="card" aria-labelledby="send-keys-heading">
            <h2 id="send-keys-heading">{tr("发送接口密钥", "Send API keys")}</h2>
            <Transition fallback=|| view! { <p>"…"</p> }>
                {move || Suspend::new(async move {
                    match keys.await {
                        Ok(dto) if !dto.has_account => view! {
                            <p class="muted">{tr("先添加公众号，才能创建发送接口密钥。", "Add an Official Account before creating send keys.")}</p>
                        }.into_any(),
                        Ok(dto) => view! { <KeysBody dto create revoke webhook /> }.into_any(),
                        Err(e) => {
                            let lang = use_lang();
                            view! { <p class="form-error" role="alert">{move || e.message(lang.get())}</p> }.into_any()
                        }
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn KeysBody(
    dto: SendKeysDto,
    create: ServerAction<CreateSendKey>,
    revoke: ServerAction<RevokeSendKey>,
    webhook: ServerAction<SetSendKeyWebhook>,
) -> impl IntoView {
    let lang = use_lang();
    let usage = format!(
        "POST {}\nAuthorization: Bearer wxs_…\nContent-Type: application/json\n\n{{\"to\": {{\"unionid\": \"…\"}}, \"preset\": 12, \"values\": {{\"thing1\": \"…\"}}, \"idempotency_key\": \"order-A1023-shipped\"}}",
        dto.endpoint
    );
    let presets = StoredValue::new(dto.presets.clone());
    let preset_names = move |scope: &PresetScope| match scope {
        PresetScope::All => None,
        PresetScope::Only(ids) => Some(
            ids.iter()
                .map(|id| {
                    presets.with_value(|p| {
                        p.iter()
                            .find(|(pid, _)| pid == id)
                            .map_or_else(|| format!("#{id}"), |(_, n)| n.clone())
                    })
                })
                .collect::<Vec<_>>()
                .join("、"),
        ),
    };
    let new_key = move || {
        match create.value().get() {
        Some(Ok(k)) => Some(
            view! { <NewKeyNotice key=k.key label_zh="新的发送接口密钥" label_en="New send key" /> }
                .into_any(),
        ),
        Some(Err(e)) => Some(
            view! { <p class="form-error" role="alert">{move || e.message(lang.get())}</p> }
                .into_any(),
        ),
        None => None,
    }
    };
    // A new key can only be shown by the running app, so the button waits for it.
    let interactive = RwSignal::new(false);
    Effect::new(move |_| interactive.set(true));
    let empty = dto.keys.is_empty();
    let live_keys: Vec<(i64, String)> = dto
        .keys
        .iter()
        .filter(|k| k.revoked_at_ms.is_none())
        .map(|k| (k.id, k.name.clone()))
        .collect();
    let stats = dto.stats;
    let rows = dto
        .keys
        .into_iter()
        .map(|k| {
            let figures = stats
                .iter()
                .find(|s| s.key_id == k.id)
                .copied()
                .unwrap_or_default();
            view! { <KeyRow key_info=k.clone() scope=preset_names(&k.presets) figures revoke /> }
        })
        .collect_view();
    let options = dto
        .presets
        .into_iter()
        .map(|(id, name)| view! { <option value=id>{name}</option> })
        .collect_view();
    view! {
        <p class="muted">
            {tr(
                "业务系统（订单、预约、账单…）用密钥调用下面的接口，给一个人发一条消息：按 unionid、小程序 openid 或公众号 openid 找到此人，带上这条消息自己的关键词值；同一个幂等键只发送一次。",
                "Business systems (orders, bookings, billing…) call this endpoint with a key to send one person one message: found by unionid, Mini Program openid or OA openid, with the message's own keyword values; one idempotency key sends once.",
            )}
        </p>
        <pre class="api-usage"><code>{usage}</code></pre>
        {empty.then(|| view! { <p class="muted">{tr("尚无密钥。", "No key yet.")}</p> })}
        <table class="data" hidden=empty>
            <thead>
                <tr>
                    <th scope="col">{tr("名称", "Name")}</th>
                    <th scope="col">{tr("密钥前缀", "Key prefix")}</th>
                    <th scope="col">{tr("可用预设", "Presets")}</th>
                    <th scope="col">{tr("速率", "Rate")}</th>
                    <th scope="col">{tr("24 小时内", "Last 24 h")}</th>
                    <th scope="col">{tr("累计", "Total")}</th>
                    <th scope="col">{tr("状态回调", "Webhook")}</th>
                    <th scope="col">{tr("最近使用", "Last used")}</th>
                    <th scope="col">{tr("状态", "Status")}</th>
                    <th scope="col">{tr("操作", "Actions")}</th>
                </tr>
            </thead>
            <tbody>{rows}</tbody>
        </table>
        <h3>{tr("创建密钥", "Create a key")}</h3>
        <ActionForm action=create attr:class="form-grid">
            <label for="send-key-name">{tr("名称", "Name")}</label>
            <input id="send-key-name" name="name" type="text" required maxlength=KEY_NAME_MAX
                placeholder=move || lang.get().pick("如：订单系统", "e.g. order system") />
            <label for="send-key-preset">{tr("可用预设", "Presets it may use")}</label>
            <select id="send-key-preset" name="preset">
                <option value="0">{tr("全部预设", "Every preset")}</option>
                {options}
            </select>
            <label for="send-key-rate">{tr("速率（条/秒）", "Rate (messages a second)")}</label>
            <input id="send-key-rate" name="rate" type="number" min="1" max=KEY_RATE_MAX
                value=KEY_RATE_DEFAULT required />
            <button type="submit" class="primary"
                disabled=move || !interactive.get() || create.pending().get()>
                {tr("创建密钥", "Create the key")}
            </button>
        </ActionForm>
        <noscript>
            <p class="muted">{tr("新密钥需要启用 JavaScript 才能显示。", "Showing a new key needs JavaScript.")}</p>
        </noscript>
        {new_key}
        <WebhookForm keys=live_keys webhook interactive />
    }
}

/// Sets or removes a key's status webhook; the signing secret shows once.
#[component]
fn WebhookForm(
    keys: Vec<(i64, String)>,
    webhook: ServerAction<SetSendKeyWebhook>,
    interactive: RwSignal<bool>,
) -> impl IntoView {
    let lang = use_lang();
    if keys.is_empty() {
        return ().into_any();
    }
    let options = keys
        .into_iter()
        .map(|(id, name)| view! { <option value=id>{name}</option> })
        .collect_view();
    let outcome = move || {
        match webhook.value().get() {
        Some(Ok(set)) => match set.secret {
            Some(secret) => view! {
                <NewKeyNotice key=secret label_zh="回调签名密钥" label_en="Webhook signing secret" />
            }
            .into_any(),
            None => view! {
                <p role="status">{tr("已移除回调地址。", "The webhook was removed.")}</p>
            }
            .into_any(),
        },
        Some(Err(e)) => view! { <p class="form-error" role="alert">{move || e.message(lang.get())}</p> }
            .into_any(),
        None => ().into_any(),
    }
    };
    view! {
        <h3>{tr("状态回调", "Status webhook")}</h3>
        <p class="muted">{tr(
            "每条消息有结果（已发送、失败、结果未知、已取消）和收到微信回执时，向回调地址 POST 一次 JSON；请求头 X-Wxpush-Signature 是用签名密钥对「时间戳.请求体」计算的 HMAC-SHA256。失败会在 24 小时内按退避重试，不影响发送。留空则移除。",
            "Each message's outcome (sent, failed, unknown, cancelled) and WeChat's receipt are POSTed once as JSON to the webhook; the X-Wxpush-Signature header is the HMAC-SHA256 of \"timestamp.body\" under the signing secret. Failures are retried with backoff for 24 hours, never holding up sending. Leave it empty to remove it.",
        )}</p>
        <ActionForm action=webhook attr:class="form-grid">
            <label for="webhook-key">{tr("密钥", "Key")}</label>
            <select id="webhook-key" name="key_id">{options}</select>
            <label for="webhook-url">{tr("回调地址", "Webhook URL")}</label>
            <input id="webhook-url" name="url" type="url" maxlength=model::webhook::URL_MAX
                placeholder="https://orders.example.com/wxpush/webhook" />
            <button type="submit" class="primary"
                disabled=move || !interactive.get() || webhook.pending().get()>
                {tr("保存回调地址", "Save the webhook")}
            </button>
        </ActionForm>
        {outcome}
    }
    .into_any()
}

#[component]
fn KeyRow(
    key_info: SendKey,
    scope: Option<String>,
    figures: SendKeyStats,
    revoke: ServerAction<RevokeSendKey>,
) -> impl IntoView {
    let lang = use_lang();
    let k = key_info;
    let zh = format!("吊销密钥 {}", k.name);
    let en = format!("Revoke key {}", k.name);
    let scope = move || {
        scope
            .clone()
            .unwrap_or_else(|| lang.get().pick("全部", "All").to_owned())
    };
    let action = if k.revoked_at_ms.is_some() {
        view! { <span class="muted">"—"</span> }.into_any()
    } else {
        view! {
            <ActionForm action=revoke>
                <input type="hidden" name="key_id" value=k.id />
                <button type="submit" class="danger"
                    aria-label=move || lang.get().pick(zh.clone(), en.clone())>
                    {tr("吊销", "Revoke")}
                </button>
            </ActionForm>
        }
        .into_any()
    };
    let rate = k.rate;
    let hook = match k.webhook_url.clone() {
        None => view! { <span class="muted">{tr("未设置", "None")}</span> }.into_any(),
        Some(url) => {
            let (pending, failed) = (figures.webhook_pending, figures.webhook_failed);
            view! {
                <code>{url}</code>
                <span class="muted">{move || {
                    (pending + failed > 0).then(|| lang.get().pick(
                        format!("（待重试 {pending}，已放弃 {failed}）"),
                        format!(" ({pending} to retry, {failed} given up)"),
                    ))
                }}</span>
            }
            .into_any()
        }
    };
    view! {
        <tr>
            <th scope="row">{k.name.clone()}</th>
            <td><code>{k.prefix.clone()} "…"</code></td>
            <td>{scope}</td>
            <td>{move || lang.get().pick(format!("{rate} 条/秒"), format!("{rate}/s"))}</td>
            <td>{move || {
                let f = figures;
                lang.get().pick(
                    format!("{} 条：已发送 {}，失败 {}", f.day_total, f.day_sent, f.day_failed),
                    format!("{}: {} sent, {} failed", f.day_total, f.day_sent, f.day_failed),
                )
            }}</td>
            <td>{figures.total}</td>
            <td>{hook}</td>
            <td>{k.last_used_ms.map(format_time_ms).unwrap_or_else(|| "—".into())}</td>
            <td><KeyState revoked_at_ms=k.revoked_at_ms /></td>
            <td class="actions">{action}</td>
        </tr>
    }
}
