//! The top-bar account switcher, and the sandbox notice when a demo account is in use.

use leptos::prelude::*;

use crate::accounts::{account_choice, SelectAccount};
use crate::i18n::{tr, use_lang};

/// Bumped whenever accounts are added or removed, so the switcher lists them at once.
#[derive(Clone, Copy)]
pub struct AccountsChanged(pub RwSignal<u32>);

pub fn use_accounts_changed() -> RwSignal<u32> {
    use_context::<AccountsChanged>()
        .map(|c| c.0)
        .unwrap_or_else(|| RwSignal::new(0))
}

#[component]
pub fn AccountSwitcher() -> impl IntoView {
    let lang = use_lang();
    let select = ServerAction::<SelectAccount>::new();
    let changed = use_accounts_changed();
    let choice = Resource::new(
        move || (select.version().get(), changed.get()),
        |_| account_choice(),
    );

    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                let choice = choice.await.unwrap_or_default();
                if choice.accounts.is_empty() {
                    return view! {
                        <label class="account-switcher">
                            <span>{tr("当前账号", "Account")}</span>
                            <select name="account" disabled>
                                <option>{tr("尚未添加账号", "No account yet")}</option>
                            </select>
                        </label>
                    }
                    .into_any();
                }
                let selected = choice.selected;
                let sandbox = choice.accounts.iter().any(|a| Some(a.id) == selected && a.sandbox);
                let options = choice
                    .accounts
                    .into_iter()
                    .map(|a| {
                        let is_sel = Some(a.id) == selected;
                        let sandbox_tag = a.sandbox;
                        view! {
                            <option value=a.id.to_string() selected=is_sel>
                                {a.name}
                                {move || sandbox_tag.then(|| lang.get().pick(" (沙箱)", " (sandbox)"))}
                            </option>
                        }
                    })
                    .collect_view();
                view! {
                    <label class="account-switcher">
                        <span>{tr("当前账号", "Account")}</span>
                        <select
                            name="account"
                            on:change=move |ev| {
                                if let Ok(id) = event_target_value(&ev).parse::<i64>() {
                                    select.dispatch(SelectAccount { id });
                                }
                            }
                        >
                            {options}
                        </select>
                    </label>
                    {sandbox.then(|| view! {
                        <span class="badge sandbox" role="note">
                            {tr("沙箱：连接的是内置微信模拟器，不会发出真实消息", "Sandbox: connected to the built-in WeChat simulator; nothing reaches real users")}
                        </span>
                    })}
                }
                .into_any()
            })}
        </Transition>
    }
}
