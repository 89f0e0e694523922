//! The test send: the saved preset, sent to your own openid.

use leptos::prelude::*;

use crate::i18n::{tr, use_lang};
use crate::templates::TestSendPreset;

#[component]
pub(super) fn TestSend(
    preset_id: i64,
    test_openid: Option<String>,
    /// Where subscribe-message tests go: the openid bound for the linked Mini Program.
    mp_test_openid: Option<String>,
    /// The saved preset is a subscribe message.
    subscribe: Memo<bool>,
    dirty: Memo<bool>,
) -> impl IntoView {
    let lang = use_lang();
    let send = ServerAction::<TestSendPreset>::new();
    let body = move || {
        let openid = if subscribe.get() {
            mp_test_openid.clone()
        } else {
            test_openid.clone()
        };
        match (preset_id, openid) {
            (0, _) => view! { <p class="muted">{tr("保存预设后可以发送测试。", "Save the preset to send a test.")}</p> }.into_any(),
            (_, None) => {
                let needed = if subscribe.get() {
                    tr("发送订阅消息测试需要你在关联小程序下的 openid。", "A subscribe-message test needs your openid in the linked Mini Program.")
                } else {
                    tr("发送测试需要你在此公众号的 openid。", "A test send needs your openid for this account.")
                };
                view! {
                    <p class="muted">
                        {needed} " "
                        <a href="/settings#test-openids">{tr("去绑定", "Bind it")}</a>
                    </p>
                }.into_any()
            }
            (id, Some(openid)) => {
                let result = move || {
                    send.value().get().map(|r| match r {
                        Ok(done) if done.msgid.is_some() => {
                            let text = lang.get().pick(done.explain_zh.clone(), done.explain_en.clone());
                            view! { <p class="test-ok" role="status">{text}</p> }.into_any()
                        }
                        Ok(done) => {
                            let code = done.errcode.map(|c| format!(" ({c})")).unwrap_or_default();
                            let text = lang.get().pick(done.explain_zh.clone(), done.explain_en.clone());
                            view! { <p class="form-error" role="alert">{lang.get().pick("微信拒绝了此消息", "WeChat refused the message")}{code} ": " {text}</p> }.into_any()
                        }
                        Err(e) => view! { <p class="form-error" role="alert">{e.message(lang.get())}</p> }.into_any(),
                    })
                };
                view! {
                    <p class="muted">{tr("发送已保存的版本到：", "Sends the saved version to: ")}<code>{openid}</code></p>
                    <button type="button" disabled=move || send.pending().get() || dirty.get()
                        on:click=move |_| { send.dispatch(TestSendPreset { id }); }>
                        {move || if send.pending().get() { lang.get().pick("发送中…", "Sending…") } else { lang.get().pick("发送测试", "Send test") }}
                    </button>
                    {move || dirty.get().then(|| view! { <p class="muted hint">{tr("请先保存修改。", "Save your changes first.")}</p> })}
                    {result}
                }.into_any()
            }
        }
    };
    view! {
        <section class="card test-send" aria-labelledby="test-send-heading">
            <h2 id="test-send-heading">{tr("发送测试", "Send a test")}</h2>
            {body}
        </section>
    }
}
