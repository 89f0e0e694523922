//! The "add a WeChat account" form, checked as you type with the rules the server applies.

use leptos::prelude::*;

use crate::accounts::CreateAccount;
use crate::dto::AccountDto;
use crate::i18n::{tr, use_lang};
use crate::validate::{AccountForm, Refusal};

#[component]
pub fn AccountFormView(
    action: ServerAction<CreateAccount>,
    accounts: Vec<AccountDto>,
) -> impl IntoView {
    let accounts = StoredValue::new(accounts);
    let lang = use_lang();
    let kind = RwSignal::new("oa".to_string());
    let name = RwSignal::new(String::new());
    let appid = RwSignal::new(String::new());
    let secret = RwSignal::new(String::new());
    let token = RwSignal::new(String::new());
    let aes = RwSignal::new(String::new());
    let api_base = RwSignal::new(engine_default_base());

    let problems = Memo::new(move |_| {
        AccountForm {
            kind: kind.get(),
            name: name.get(),
            appid: appid.get(),
            secret: secret.get(),
            callback_token: token.get(),
            encoding_aes_key: aes.get(),
            api_base: api_base.get(),
        }
        .problems(false)
    });
    // A field's problem shows once something was typed into it.
    let field_error = move |field: &'static str, value: RwSignal<String>| {
        move || {
            let typed = !value.get().is_empty();
            problems
                .get()
                .into_iter()
                .find(|p: &Refusal| p.field == field && typed)
                .map(|p| view! { <p class="field-error">{p.problem.message(lang.get())}</p> })
        }
    };
    let server_error = move || {
        action
            .value()
            .get()
            .and_then(Result::err)
            .map(|e| view! { <p class="form-error" role="alert">{e.message(lang.get())}</p> })
    };
    let partners = move || {
        let want = if kind.get() == model::AccountKind::Oa.as_str() {
            model::AccountKind::Mp
        } else {
            model::AccountKind::Oa
        };
        accounts
            .get_value()
            .into_iter()
            .filter(move |a| a.kind == want)
            .map(|a| view! { <option value=a.id.to_string()>{a.name} " (" {a.appid} ")"</option> })
            .collect_view()
    };

    view! {
        <ActionForm action=action attr:class="account-form">
            <div class="form-grid">
                <label for="acc-kind">{tr("类型", "Type")}</label>
                <select id="acc-kind" name="kind" on:change=move |ev| kind.set(event_target_value(&ev))>
                    <option value="oa">{tr("公众号", "Official Account")}</option>
                    <option value="mp">{tr("小程序", "Mini Program")}</option>
                </select>

                <label for="acc-name">{tr("名称", "Name")}</label>
                <div>
                    <input id="acc-name" name="name" type="text" required on:input=move |ev| name.set(event_target_value(&ev)) />
                    {field_error("name", name)}
                </div>

                <label for="acc-appid">"AppID"</label>
                <div>
                    <input id="acc-appid" name="appid" type="text" required autocomplete="off" on:input=move |ev| appid.set(event_target_value(&ev)) />
                    {field_error("appid", appid)}
                </div>

                <label for="acc-secret">"AppSecret"</label>
                <div>
                    <input id="acc-secret" name="secret" type="password" required autocomplete="off" on:input=move |ev| secret.set(event_target_value(&ev)) />
                    {field_error("secret", secret)}
                </div>

                <label for="acc-token">{tr("令牌 (Token)", "Token")}</label>
                <div>
                    <input id="acc-token" name="callback_token" type="text" autocomplete="off" on:input=move |ev| token.set(event_target_value(&ev)) />
                    {field_error("callback_token", token)}
                </div>

                <label for="acc-aes">"EncodingAESKey"</label>
                <div>
                    <input id="acc-aes" name="encoding_aes_key" type="password" autocomplete="off" on:input=move |ev| aes.set(event_target_value(&ev)) />
                    {field_error("encoding_aes_key", aes)}
                </div>

                <label for="acc-base">{tr("API 地址", "API base URL")}</label>
                <div>
                    <input id="acc-base" name="api_base" type="text" required value=engine_default_base() on:input=move |ev| api_base.set(event_target_value(&ev)) />
                    {field_error("api_base", api_base)}
                </div>

                <label for="acc-link">{tr("关联账号", "Linked account")}</label>
                <select id="acc-link" name="linked_account_id">
                    <option value="">{tr("不关联", "None")}</option>
                    {partners}
                </select>
            </div>
            {server_error}
            <button type="submit" class="primary" disabled=move || action.pending().get()>
                {tr("添加账号", "Add account")}
            </button>
        </ActionForm>
    }
}

fn engine_default_base() -> String {
    "https://api.weixin.qq.com".to_owned()
}
