//! "My test openids": the openid each account sends this staff member's test messages to, bound
//! by themselves — an Official Account's for template messages, a Mini Program's for subscribe
//! messages.

use leptos::prelude::*;

use crate::i18n::{tr, use_lang};
use crate::profile::{my_test_openids, SetMyTestOpenid, TestOpenidDto};

#[component]
pub fn TestOpenids() -> impl IntoView {
    let lang = use_lang();
    let list = Resource::new(|| (), |_| my_test_openids());
    view! {
        <section class="card" id="test-openids" aria-labelledby="test-openids-heading">
            <h2 id="test-openids-heading">{tr("测试接收 openid", "Test recipient openid")}</h2>
            <p class="muted">{tr(
                "「发送测试」会把预设发到你在该账号下的 openid：模板消息发到公众号的 openid（关注公众号后，可在粉丝列表中找到），订阅消息发到关联小程序的 openid（同一个人在小程序里的 openid 不同，可从小程序的登录日志中获取）。",
                "\"Send test\" delivers a preset to your openid on that account: template messages to your Official Account openid (follow the account, then find it in the followers list), subscribe messages to your openid in the linked Mini Program (a different openid for the same person; find it in the Mini Program's login logs).",
            )}</p>
            <Transition fallback=|| view! { <p>"…"</p> }>
                {move || Suspend::new(async move {
                    match list.await {
                        Ok(rows) if rows.is_empty() => view! { <p class="muted">{tr("还没有账号。", "No account yet.")}</p> }.into_any(),
                        Ok(rows) => rows.into_iter().map(|r| view! { <OpenidRow row=r /> }).collect_view().into_any(),
                        Err(e) => view! { <p class="form-error" role="alert">{move || e.message(lang.get())}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn OpenidRow(row: TestOpenidDto) -> impl IntoView {
    let lang = use_lang();
    let save = ServerAction::<SetMyTestOpenid>::new();
    let openid = RwSignal::new(row.openid.clone());
    let input_id = format!("openid-{}", row.account_id);
    let account_id = row.account_id;
    let kind_name = if row.kind == model::AccountKind::Mp {
        tr("小程序", "Mini Program")
    } else {
        tr("公众号", "Official Account")
    };
    let feedback =
        move || {
            save.value().get().map(|r| match r {
                Ok(()) => view! { <p class="test-ok" role="status">{tr("已保存", "Saved")}</p> }
                    .into_any(),
                Err(e) => view! { <p class="form-error" role="alert">{e.message(lang.get())}</p> }
                    .into_any(),
            })
        };
    view! {
        <form class="openid-row" on:submit=move |ev| {
            ev.prevent_default();
            save.dispatch(SetMyTestOpenid { account_id, openid: openid.get_untracked() });
        }>
            <label for=input_id.clone()>
                {row.account_name.clone()} " "
                <span class="muted">"(" {kind_name} " · " {row.appid.clone()} ")"</span>
            </label>
            <input id=input_id type="text" autocomplete="off" placeholder="o6_bmjrPTlm6_2sgVt7hMZOPfL2M"
                prop:value=move || openid.get() on:input=move |ev| openid.set(event_target_value(&ev)) />
            <button type="submit" disabled=move || save.pending().get()
                aria-label=move || format!("{}{}", lang.get().pick("保存 openid：", "Save openid: "), row.account_name)>
                {tr("保存", "Save")}
            </button>
            {feedback}
        </form>
    }
}
