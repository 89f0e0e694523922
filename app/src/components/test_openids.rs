//! "My test openids": the openid each Official Account sends this staff member's test messages
//! to, bound by themselves.

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
                "「发送测试」会把预设发到你在该公众号下的 openid。关注公众号后，可在粉丝列表中找到自己的 openid。",
                "\"Send test\" delivers a preset to your openid on that account. Follow the account, then find your openid in the followers list.",
            )}</p>
            <Transition fallback=|| view! { <p>"…"</p> }>
                {move || Suspend::new(async move {
                    match list.await {
                        Ok(rows) if rows.is_empty() => view! { <p class="muted">{tr("还没有公众号。", "No Official Account yet.")}</p> }.into_any(),
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
            <label for=input_id.clone()>{row.account_name.clone()} " " <span class="muted">"(" {row.appid.clone()} ")"</span></label>
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
