//! Settings: the profile and one's own password, and for admins the WeChat accounts and tokens
//! and the processes of the deployment.

use leptos::prelude::*;

use crate::accounts::{list_accounts, CreateAccount, DeleteAccount, TestAccountConnection};
use crate::components::account_form::AccountFormView;
use crate::components::mp_keys::{KeyTarget, MpTools};
use crate::components::send_keys::SendKeys;
use crate::dto::{format_time_ms, AccountDto, InstanceDto, Role, SessionInfo};
use crate::error::AppError;
use crate::i18n::{tr, use_lang};
use crate::instances::list_instances;
use crate::mp::{list_mp_api_keys, CreateMpApiKey, RevokeMpApiKey};
use crate::staff::ChangeMyPassword;
use model::instance::InstanceState;

#[component]
pub fn SettingsPage() -> impl IntoView {
    let lang = use_lang();
    let user = use_context::<SessionInfo>().and_then(|i| i.user);
    let is_admin = user.as_ref().is_some_and(|u| u.role == Role::Admin);
    let profile = user.map(|u| {
        let role = u.role;
        view! {
            <section class="card" aria-labelledby="profile-heading">
                <h2 id="profile-heading">{tr("我的账号", "My account")}</h2>
                <dl class="facts">
                    <dt>{tr("用户名", "Username")}</dt>
                    <dd>{u.username}</dd>
                    <dt>{tr("角色", "Role")}</dt>
                    <dd>{move || role.label(lang.get())}</dd>
                    <dt>{tr("界面语言", "Interface language")}</dt>
                    <dd>{move || lang.get().pick("中文", "English")}</dd>
                </dl>
            </section>
        }
    });
    view! {
        <h1>{tr("设置", "Settings")}</h1>
        {profile}
        <ChangePassword />
        <crate::components::test_openids::TestOpenids />
        {if is_admin {
            view! { <AccountsAdmin /><crate::components::send_rules::SendRulesSettings /><SendKeys /><Processes /> }.into_any()
        } else {
            view! {
                <section class="card">
                    <h2>{tr("微信账号", "WeChat accounts")}</h2>
                    <p class="muted">{tr("微信账号由管理员管理。", "WeChat accounts are managed by admins.")}</p>
                </section>
            }
            .into_any()
        }}
    }
}

/// Everyone changes their own password here, with the current one.
#[component]
fn ChangePassword() -> impl IntoView {
    let lang = use_lang();
    let action = ServerAction::<ChangeMyPassword>::new();
    let current = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let confirm = RwSignal::new(String::new());
    Effect::new(move |_| {
        if let Some(Ok(())) = action.value().get() {
            current.set(String::new());
            password.set(String::new());
            confirm.set(String::new());
        }
    });
    let password_hint = move || {
        let v = password.get();
        (!v.is_empty())
            .then(|| crate::validate::new_password(&v).err())
            .flatten()
            .map(|p| view! { <p class="field-error">{p.message(lang.get())}</p> })
    };
    let confirm_hint = move || {
        let c = confirm.get();
        (!c.is_empty())
            .then(|| crate::validate::password_confirm(&password.get(), &c).err())
            .flatten()
            .map(|p| view! { <p class="field-error">{p.message(lang.get())}</p> })
    };
    let result = move || {
        action.value().get().map(|r| match r {
            Ok(()) => view! {
                <p class="test-ok" role="status">{tr(
                    "密码已修改。你在其他设备上的登录已退出。",
                    "Password changed. You are logged out everywhere else.",
                )}</p>
            }
            .into_any(),
            Err(AppError::InvalidCredentials) => view! {
                <p class="form-error" role="alert">{tr("当前密码不正确", "The current password is wrong")}</p>
            }
            .into_any(),
            Err(e) => view! { <p class="form-error" role="alert">{e.message(lang.get())}</p> }.into_any(),
        })
    };
    view! {
        <section class="card" aria-labelledby="password-heading">
            <h2 id="password-heading">{tr("修改密码", "Change password")}</h2>
            <form class="stacked change-password" on:submit=move |ev| {
                ev.prevent_default();
                action.dispatch(ChangeMyPassword {
                    current_password: current.get_untracked(),
                    new_password: password.get_untracked(),
                    new_password_confirm: confirm.get_untracked(),
                });
            }>
                <label for="current-password">{tr("当前密码", "Current password")}</label>
                <input id="current-password" type="password" autocomplete="current-password" required
                    prop:value=move || current.get() on:input=move |ev| current.set(event_target_value(&ev)) />
                <label for="new-password">{tr("新密码", "New password")}</label>
                <input id="new-password" type="password" autocomplete="new-password" required
                    prop:value=move || password.get() on:input=move |ev| password.set(event_target_value(&ev)) />
                {password_hint}
                <label for="new-password-confirm">{tr("确认新密码", "Confirm new password")}</label>
                <input id="new-password-confirm" type="password" autocomplete="new-password" required
                    prop:value=move || confirm.get() on:input=move |ev| confirm.set(event_target_value(&ev)) />
                {confirm_hint}
                {result}
                <button type="submit" disabled=move || action.pending().get()>
                    {tr("修改密码", "Change password")}
                </button>
            </form>
        </section>
    }
}

/// The account whose delete form was sent last (its row shows the answer).
#[derive(Clone, Copy)]
struct DeleteTarget(RwSignal<Option<i64>>);

/// Accounts, their Mini Programs' tools and the form to add one. Every resource and action is
/// made here, at the top: a resource made inside a Suspend body gets other hydration numbers on
/// the server (which renders such a body up to three times) than in the browser (once), and
/// the section then never becomes interactive.
#[component]
fn AccountsAdmin() -> impl IntoView {
    let create = ServerAction::<CreateAccount>::new();
    let delete = ServerAction::<DeleteAccount>::new();
    let create_key = ServerAction::<CreateMpApiKey>::new();
    let revoke_key = ServerAction::<RevokeMpApiKey>::new();
    provide_context(DeleteTarget(RwSignal::new(None)));
    provide_context(KeyTarget(RwSignal::new(None)));
    let accounts = Resource::new(
        move || (create.version().get(), delete.version().get()),
        |_| list_accounts(),
    );
    let mp_keys = Resource::new(
        move || {
            (
                create.version().get(),
                delete.version().get(),
                create_key.version().get(),
                revoke_key.version().get(),
            )
        },
        |_| list_mp_api_keys(),
    );
    let changed = crate::components::account_switcher::use_accounts_changed();
    Effect::new(move |prev: Option<(usize, usize)>| {
        let now = (create.version().get(), delete.version().get());
        if prev.is_some_and(|p| p != now) {
            changed.update(|n| *n += 1);
        }
        now
    });

    view! {
        <section class="card" aria-labelledby="accounts-heading">
            <h2 id="accounts-heading">{tr("微信账号", "WeChat accounts")}</h2>
            <Transition fallback=|| view! { <p>"…"</p> }>
                {move || Suspend::new(async move {
                    match accounts.await {
                        Ok(list) if list.is_empty() => view! {
                            <p class="muted">{tr("尚未添加公众号或小程序。", "No Official Account or Mini Program yet.")}</p>
                        }.into_any(),
                        Ok(list) => view! { <AccountsTable accounts=list delete=delete /> }.into_any(),
                        Err(e) => view! { <ErrorLine error=e /> }.into_any(),
                    }
                })}
            </Transition>
        </section>
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                match mp_keys.await {
                    Ok(all) => all
                        .into_iter()
                        .map(|keys| view! { <MpTools keys create=create_key revoke=revoke_key /> })
                        .collect_view()
                        .into_any(),
                    Err(e) => view! { <ErrorLine error=e /> }.into_any(),
                }
            })}
        </Transition>
        <section class="card" aria-labelledby="add-account-heading">
            <h2 id="add-account-heading">{tr("添加账号", "Add an account")}</h2>
            <Transition fallback=|| view! { <p>"…"</p> }>
                {move || Suspend::new(async move {
                    let list = accounts.await.unwrap_or_default();
                    view! { <AccountFormView action=create accounts=list /> }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn ErrorLine(error: crate::error::AppError) -> impl IntoView {
    let lang = use_lang();
    view! { <p class="form-error" role="alert">{move || error.message(lang.get())}</p> }
}

#[component]
fn AccountsTable(accounts: Vec<AccountDto>, delete: ServerAction<DeleteAccount>) -> impl IntoView {
    view! {
        <table class="data">
            <thead>
                <tr>
                    <th scope="col">{tr("名称", "Name")}</th>
                    <th scope="col">{tr("类型", "Type")}</th>
                    <th scope="col">"AppID"</th>
                    <th scope="col">"AppSecret"</th>
                    <th scope="col">{tr("Token 状态", "Token health")}</th>
                    <th scope="col">{tr("回调地址", "Callback URL")}</th>
                    <th scope="col">{tr("操作", "Actions")}</th>
                </tr>
            </thead>
            <tbody>
                {accounts.into_iter().map(|a| view! { <AccountRow account=a delete=delete /> }).collect_view()}
            </tbody>
        </table>
    }
}

#[component]
fn AccountRow(account: AccountDto, delete: ServerAction<DeleteAccount>) -> impl IntoView {
    let lang = use_lang();
    let test = ServerAction::<TestAccountConnection>::new();
    let a = account.clone();
    let kind = move || a.kind_label(lang.get());
    let health = StoredValue::new(account.health.clone());
    let result = move || {
        test.value().get().map(|r| match r {
            Ok(t) => {
                let text = if lang.get() == crate::i18n::Lang::Zh {
                    t.explain_zh
                } else {
                    t.explain_en
                };
                let class = if t.ok { "test-ok" } else { "form-error" };
                let code = t.errcode.map(|c| format!(" ({c})")).unwrap_or_default();
                view! { <p class=class role="status">{text}{code}</p> }.into_any()
            }
            Err(e) => {
                view! { <p class="form-error" role="status">{e.message(lang.get())}</p> }.into_any()
            }
        })
    };
    let token_state = move || {
        let fresh = test.value().get().and_then(Result::ok).map(|t| t.health);
        let h = fresh.unwrap_or_else(|| health.get_value());
        match (h.valid, h.last_error) {
            (_, Some(err)) => format!("{}: {err}", lang.get().pick("上次失败", "Last failure")),
            (true, None) => format!(
                "{} {} · {} {}",
                lang.get().pick("有效期至", "valid until"),
                format_time_ms(h.expires_at_ms),
                lang.get().pick("刷新次数", "refreshes"),
                h.refresh_count
            ),
            (false, None) => format!(
                "{} · {} {}",
                lang.get().pick(
                    "暂无有效 token（使用时自动获取）",
                    "no valid token (fetched when needed)"
                ),
                lang.get().pick("刷新次数", "refreshes"),
                h.refresh_count
            ),
        }
    };
    let name = account.name.clone();
    let test_label = format!("{} {}", "测试连接", account.name);
    let test_label_en = format!("Test connection {}", account.name);
    let delete_label = format!("删除 {}", account.name);
    let delete_label_en = format!("Delete {}", account.name);
    let confirm_label = format!("确认删除 {}", account.name);
    let confirm_label_en = format!("Confirm deleting {}", account.name);
    let confirm_appid = account.appid.clone();
    let f = account.footprint;
    let footprint_name = account.name.clone();
    let deletes_with = move |lang: crate::i18n::Lang| {
        let n = |v: i64| crate::dto::thousands(v);
        match lang {
            crate::i18n::Lang::Zh => format!(
                "删除「{footprint_name}」将同时永久删除它的 {} 位粉丝记录、{} 位小程序用户、{} 个消息预设和 {} 个发送任务及其发送记录。已发出的消息不受影响。此操作无法撤销。",
                n(f.followers), n(f.mp_users), n(f.presets), n(f.jobs)
            ),
            crate::i18n::Lang::En => format!(
                "Deleting \u{201c}{footprint_name}\u{201d} also permanently deletes its {} follower records, {} Mini Program users, {} message presets and {} send jobs with their results. Messages already sent are not affected. This cannot be undone.",
                n(f.followers), n(f.mp_users), n(f.presets), n(f.jobs)
            ),
        }
    };
    let delete_id = account.id;
    // One action serves every row: its answer belongs to the row whose form was sent last.
    let last_target = use_context::<DeleteTarget>().map(|t| t.0);
    let delete_error = move || {
        delete
            .value()
            .get()
            .and_then(Result::err)
            .filter(|_| last_target.is_some_and(|t| t.get() == Some(delete_id)))
            .map(|e| view! { <p class="form-error" role="alert">{e.message(lang.get())}</p> })
    };
    view! {
        <tr>
            <th scope="row">
                {name}
                {account.sandbox.then(|| view! { <span class="badge sandbox">{tr("沙箱", "Sandbox")}</span> })}
            </th>
            <td>
                {kind}
                {account.linked_name.clone().map(|n| view! { <div class="muted">{tr("关联", "Linked")} ": " {n}</div> })}
            </td>
            <td><code>{account.appid.clone()}</code></td>
            <td>
                {if account.secret_set {
                    view! { <span class="masked">{tr("已设置 ••••••", "set ••••••")}</span> }.into_any()
                } else {
                    view! { <span class="muted">{tr("未设置", "not set")}</span> }.into_any()
                }}
            </td>
            <td class="token-health">{token_state}</td>
            <td><code class="callback-url">{account.callback_url.clone()}</code></td>
            <td class="actions">
                <ActionForm action=test>
                    <input type="hidden" name="id" value=account.id />
                    <button type="submit" aria-label=move || lang.get().pick(test_label.clone(), test_label_en.clone()) disabled=move || test.pending().get()>
                        {tr("测试连接", "Test connection")}
                    </button>
                </ActionForm>
                <details class="confirm-delete">
                    <summary class="button danger" aria-label=move || lang.get().pick(delete_label.clone(), delete_label_en.clone())>
                        {tr("删除", "Delete")}
                    </summary>
                    <div class="confirm-panel" role="group" aria-label=move || lang.get().pick(confirm_label.clone(), confirm_label_en.clone())
                        on:submit=move |_| { if let Some(t) = last_target { t.set(Some(delete_id)); } }>
                        <p>{move || deletes_with(lang.get())}</p>
                        <ActionForm action=delete>
                            <input type="hidden" name="id" value=account.id />
                            <label>
                                {move || lang.get().pick(format!("输入 AppID {confirm_appid} 以确认"), format!("Type the AppID {confirm_appid} to confirm"))}
                                <input type="text" name="confirm" autocomplete="off" spellcheck="false" required />
                            </label>
                            <button type="submit" class="danger" disabled=move || delete.pending().get()>
                                {tr("永久删除", "Delete permanently")}
                            </button>
                        </ActionForm>
                        {delete_error}
                    </div>
                </details>
                {result}
            </td>
        </tr>
    }
}

/// The `wxpush serve` processes sharing this database (admins): which are alive, and what each
/// holds, so that an admin can match a lease to its process.
#[component]
fn Processes() -> impl IntoView {
    let reload = RwSignal::new(0_u32);
    let instances = Resource::new(move || reload.get(), |_| list_instances());
    view! {
        <section class="card" aria-labelledby="processes-heading">
            <h2 id="processes-heading">{tr("进程", "Processes")}</h2>
            <p class="muted">{tr(
                "共用此数据库的 wxpush 进程（最近一天内）。进程每 5 秒写一次心跳，30 秒没有心跳即视为已停止。",
                "The wxpush processes sharing this database (seen within the last day). Each writes a heartbeat every 5 seconds; one without a heartbeat for 30 seconds is shown as stopped.",
            )}</p>
            <Transition fallback=|| view! { <p>"…"</p> }>
                {move || Suspend::new(async move {
                    match instances.await {
                        Ok(list) if list.is_empty() => view! {
                            <p class="muted">{tr("没有登记的进程。", "No process is registered.")}</p>
                        }
                        .into_any(),
                        Ok(list) => view! { <InstancesTable instances=list /> }.into_any(),
                        Err(e) => view! { <ErrorLine error=e /> }.into_any(),
                    }
                })}
            </Transition>
            <button type="button" class="processes-reload" on:click=move |_| reload.update(|n| *n += 1)>
                {tr("刷新", "Refresh")}
            </button>
        </section>
    }
}

#[component]
fn InstancesTable(instances: Vec<InstanceDto>) -> impl IntoView {
    view! {
        <div class="table-scroll">
            <table class="data instances">
                <thead>
                    <tr>
                        <th scope="col">{tr("实例", "Instance")}</th>
                        <th scope="col">{tr("主机", "Host")}</th>
                        <th scope="col">{tr("地址", "Address")}</th>
                        <th scope="col">{tr("版本", "Version")}</th>
                        <th scope="col">{tr("启动时间", "Started")}</th>
                        <th scope="col">{tr("最近心跳", "Last heartbeat")}</th>
                        <th scope="col">{tr("状态", "Status")}</th>
                        <th scope="col">{tr("发送中", "Sending")}</th>
                    </tr>
                </thead>
                <tbody>
                    {instances.into_iter().map(|i| view! { <InstanceRow instance=i /> }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn InstanceRow(instance: InstanceDto) -> impl IntoView {
    let lang = use_lang();
    let this_process = instance.this_process;
    let instance = instance.instance;
    let status = instance.state;
    let alive = status == InstanceState::Alive;
    let badge = if alive {
        "badge instance-alive"
    } else {
        "badge instance-gone"
    };
    let host = if instance.hostname.is_empty() {
        "—".to_owned()
    } else {
        instance.hostname
    };
    // Leases other than send rows: rare and short, so a note under the status.
    let syncing = (instance.syncs > 0)
        .then(|| view! { <div class="muted">{tr("正在同步粉丝", "Syncing followers")}</div> });
    let refreshing = (instance.token_refreshes > 0)
        .then(|| view! { <div class="muted">{tr("正在刷新 access token", "Refreshing an access token")}</div> });
    view! {
        <tr class:row-disabled=!alive>
            <th scope="row">
                <code>{instance.id}</code>
                {this_process.then(|| view! { <span class="badge kind">{tr("本进程", "This process")}</span> })}
            </th>
            <td>{host}<div class="muted">"PID " {instance.pid}</div></td>
            <td><code>{instance.listen_addr}</code></td>
            <td>{instance.version}</td>
            <td class="nowrap">{format_time_ms(instance.started_ms)}</td>
            <td class="nowrap">{format_time_ms(instance.seen_ms)}</td>
            <td>
                <span class=badge>{move || status.label(lang.get())}</span>
                {syncing}
                {refreshing}
            </td>
            <td class="counter">{instance.sending}</td>
        </tr>
    }
}
