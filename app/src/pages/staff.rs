//! The staff page (admins): everyone who may log in, adding staff, changing roles, disabling and
//! enabling, and resetting passwords to a generated one shown once.

use leptos::prelude::*;

use crate::dto::{format_time_ms, Role, SessionInfo};
use crate::error::AppError;
use crate::i18n::{tr, use_lang, Lang};
use crate::staff::{
    list_staff_members, AddStaff, ChangeStaffRole, PasswordReset, ResetStaffPassword,
    SetStaffDisabled, StaffChange, StaffMember,
};
use crate::validate;

#[component]
pub fn StaffPage() -> impl IntoView {
    let user = use_context::<SessionInfo>().and_then(|i| i.user);
    let admin = user.filter(|u| u.role == Role::Admin);
    view! {
        <h1>{tr("员工", "Staff")}</h1>
        {match admin {
            Some(me) => view! { <StaffAdmin me_id=me.id /> }.into_any(),
            None => view! { <AdminsOnly /> }.into_any(),
        }}
    }
}

/// What an operator sees on an admin page (the server functions refuse them too).
#[component]
pub fn AdminsOnly() -> impl IntoView {
    view! {
        <p class="form-error" role="alert">
            {tr(
                "只有管理员可以查看此页面。如需帮助，请联系管理员。",
                "Only admins can use this page. Ask an admin if you need something here.",
            )}
        </p>
    }
}

/// The last answer the page shows above the table.
#[derive(Clone, Debug)]
enum Notice {
    Done(String),
    Refused(String),
    Password { username: String, password: String },
    Failed(AppError),
}

#[component]
fn StaffAdmin(me_id: i64) -> impl IntoView {
    let lang = use_lang();
    let add = ServerAction::<AddStaff>::new();
    let role = ServerAction::<ChangeStaffRole>::new();
    let toggle = ServerAction::<SetStaffDisabled>::new();
    let reset = ServerAction::<ResetStaffPassword>::new();
    let list = Resource::new(
        move || {
            (
                add.version().get(),
                role.version().get(),
                toggle.version().get(),
                reset.version().get(),
            )
        },
        |_| list_staff_members(),
    );
    let notice = RwSignal::new(None::<Notice>);

    Effect::new(move |_| {
        if let Some(r) = role.value().get() {
            notice.set(Some(match r {
                Ok(StaffChange::Done(m)) => Notice::Done(match (lang.get_untracked(), m.role) {
                    (Lang::Zh, r) => format!("已将 {} 设为{}", m.username, r.label(Lang::Zh)),
                    (Lang::En, Role::Admin) => format!("{} is now an admin", m.username),
                    (Lang::En, Role::Operator) => {
                        format!("{} is now an operator", m.username)
                    }
                }),
                Ok(StaffChange::Refused { username, reason }) => {
                    Notice::Refused(reason.message(lang.get_untracked(), &username))
                }
                Err(e) => Notice::Failed(e),
            }));
        }
    });
    Effect::new(move |_| {
        if let Some(r) = toggle.value().get() {
            notice.set(Some(match r {
                Ok(StaffChange::Done(m)) => {
                    Notice::Done(match (lang.get_untracked(), m.disabled) {
                        (Lang::Zh, true) => format!("已停用 {}，其所有登录会话已结束", m.username),
                        (Lang::Zh, false) => format!("已启用 {}", m.username),
                        (Lang::En, true) => {
                            format!("{} is disabled; all their sessions have ended", m.username)
                        }
                        (Lang::En, false) => format!("{} is enabled", m.username),
                    })
                }
                Ok(StaffChange::Refused { username, reason }) => {
                    Notice::Refused(reason.message(lang.get_untracked(), &username))
                }
                Err(e) => Notice::Failed(e),
            }));
        }
    });
    Effect::new(move |_| {
        if let Some(r) = reset.value().get() {
            notice.set(Some(match r {
                Ok(PasswordReset::Reset { username, password }) => {
                    Notice::Password { username, password }
                }
                Ok(PasswordReset::Refused { username, reason }) => {
                    Notice::Refused(reason.message(lang.get_untracked(), &username))
                }
                Err(e) => Notice::Failed(e),
            }));
        }
    });

    let notice_view = move || {
        notice.get().map(|n| match n {
            Notice::Done(text) => view! { <p class="test-ok" role="status">{text}</p> }.into_any(),
            Notice::Refused(text) => {
                view! { <p class="form-error" role="alert">{text}</p> }.into_any()
            }
            Notice::Failed(e) => {
                view! { <p class="form-error" role="alert">{move || e.message(lang.get())}</p> }
                    .into_any()
            }
            Notice::Password { username, password } => {
                let who = username.clone();
                view! {
                    <div class="generated-password" role="status">
                        <p>
                            {move || match lang.get() {
                                Lang::Zh => format!("{who} 的新密码（只显示这一次，请当面或通过安全渠道告诉对方，并请其登录后在「设置」中修改）："),
                                Lang::En => format!("New password for {who} (shown only this once: pass it on safely and ask them to change it under Settings after logging in):"),
                            }}
                        </p>
                        <code class="password-once" aria-label=move || lang.get().pick("新密码", "New password")>{password}</code>
                    </div>
                }
                .into_any()
            }
        })
    };

    view! {
        <section class="card" aria-labelledby="staff-heading">
            <h2 id="staff-heading">{tr("所有员工", "All staff")}</h2>
            <p class="muted">{tr(
                "停用员工会立即结束其所有登录会话，且无法再登录。至少要保留一位启用中的管理员。",
                "Disabling someone ends all their sessions at once and stops their logins. At least one active admin must remain.",
            )}</p>
            <div aria-live="polite">{notice_view}</div>
            <Transition fallback=|| view! { <p>"…"</p> }>
                {move || Suspend::new(async move {
                    match list.await {
                        Ok(rows) => view! {
                            <table class="data staff-table">
                                <thead>
                                    <tr>
                                        <th scope="col">{tr("用户名", "Username")}</th>
                                        <th scope="col">{tr("角色", "Role")}</th>
                                        <th scope="col">{tr("状态", "Status")}</th>
                                        <th scope="col">{tr("创建时间", "Created")}</th>
                                        <th scope="col">{tr("最近登录", "Last login")}</th>
                                        <th scope="col">{tr("操作", "Actions")}</th>
                                    </tr>
                                </thead>
                                <tbody>
                                    {rows
                                        .into_iter()
                                        .map(|m| view! { <StaffRow member=m me_id role toggle reset /> })
                                        .collect_view()}
                                </tbody>
                            </table>
                        }
                        .into_any(),
                        Err(AppError::Forbidden) => view! { <AdminsOnly /> }.into_any(),
                        Err(e) => view! { <p class="form-error" role="alert">{move || e.message(lang.get())}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
        <AddStaffForm add />
    }
}

#[component]
fn StaffRow(
    member: StaffMember,
    me_id: i64,
    role: ServerAction<ChangeStaffRole>,
    toggle: ServerAction<SetStaffDisabled>,
    reset: ServerAction<ResetStaffPassword>,
) -> impl IntoView {
    let lang = use_lang();
    let id = member.id;
    let is_me = id == me_id;
    let name = StoredValue::new(member.username.clone());
    let current_role = member.role;
    let disabled = member.disabled;
    let confirming = RwSignal::new(false);
    let other_role = match current_role {
        Role::Admin => Role::Operator,
        Role::Operator => Role::Admin,
    };
    let role_label = move || {
        let n = name.get_value();
        match (lang.get(), other_role) {
            (Lang::Zh, r) => format!("将 {n} 改为{}", r.label(Lang::Zh)),
            (Lang::En, Role::Admin) => format!("Make {n} an admin"),
            (Lang::En, Role::Operator) => format!("Make {n} an operator"),
        }
    };
    let toggle_label = move || {
        let n = name.get_value();
        match (lang.get(), disabled) {
            (Lang::Zh, false) => format!("停用 {n}"),
            (Lang::Zh, true) => format!("启用 {n}"),
            (Lang::En, false) => format!("Disable {n}"),
            (Lang::En, true) => format!("Enable {n}"),
        }
    };
    let reset_label = move || {
        let n = name.get_value();
        lang.get().pick(
            format!("重置 {n} 的密码"),
            format!("Reset the password of {n}"),
        )
    };
    let confirm_label = move || {
        let n = name.get_value();
        lang.get().pick(
            format!("确认重置 {n} 的密码"),
            format!("Confirm resetting the password of {n}"),
        )
    };
    let pending = move || role.pending().get() || toggle.pending().get() || reset.pending().get();

    view! {
        <tr class:row-disabled=disabled>
            <th scope="row">
                {member.username.clone()}
                {is_me.then(|| view! { <span class="muted">" " {tr("（你）", "(you)")}</span> })}
            </th>
            <td>{move || current_role.label(lang.get())}</td>
            <td>
                {if disabled {
                    view! { <span class="badge staff-disabled">{tr("已停用", "Disabled")}</span> }.into_any()
                } else {
                    view! { <span class="badge staff-active">{tr("启用", "Active")}</span> }.into_any()
                }}
            </td>
            <td>{format_time_ms(member.created_at_ms)}</td>
            <td>
                {match member.last_login_ms {
                    Some(ms) => format_time_ms(ms).into_any(),
                    None => view! { <span class="muted">{tr("从未登录", "never")}</span> }.into_any(),
                }}
            </td>
            <td class="actions staff-actions">
                <button type="button" aria-label=role_label disabled=pending
                    on:click=move |_| {
                        role.dispatch(ChangeStaffRole { id, role: other_role });
                    }>
                    {move || match other_role {
                        Role::Admin => lang.get().pick("设为管理员", "Make admin"),
                        Role::Operator => lang.get().pick("设为运营", "Make operator"),
                    }}
                </button>
                {if is_me {
                    view! { <span class="muted">{tr("不能停用自己；在「设置」中修改自己的密码", "You cannot disable yourself; change your own password under Settings")}</span> }.into_any()
                } else {
                    view! {
                        <button type="button" class:danger=!disabled aria-label=toggle_label disabled=pending
                            on:click=move |_| { toggle.dispatch(SetStaffDisabled { id, disabled: !disabled }); }>
                            {move || match disabled {
                                false => lang.get().pick("停用", "Disable"),
                                true => lang.get().pick("启用", "Enable"),
                            }}
                        </button>
                        <Show
                            when=move || confirming.get()
                            fallback=move || view! {
                                <button type="button" aria-label=reset_label on:click=move |_| confirming.set(true)>
                                    {tr("重置密码", "Reset password")}
                                </button>
                            }
                        >
                            <button type="button" class="danger" aria-label=confirm_label disabled=pending
                                on:click=move |_| {
                                    confirming.set(false);
                                    reset.dispatch(ResetStaffPassword { id });
                                }>
                                {tr("确认重置", "Confirm reset")}
                            </button>
                            <button type="button" on:click=move |_| confirming.set(false)>
                                {tr("取消", "Cancel")}
                            </button>
                        </Show>
                    }.into_any()
                }}
            </td>
        </tr>
    }
}

#[component]
fn AddStaffForm(add: ServerAction<AddStaff>) -> impl IntoView {
    let lang = use_lang();
    let username = RwSignal::new(String::new());
    let role = RwSignal::new(Role::Operator);
    let password = RwSignal::new(String::new());
    let confirm = RwSignal::new(String::new());
    // A success clears the form, so the initial password does not linger on screen.
    Effect::new(move |_| {
        if let Some(Ok(_)) = add.value().get() {
            username.set(String::new());
            password.set(String::new());
            confirm.set(String::new());
            role.set(Role::Operator);
        }
    });
    let hint = move |value: RwSignal<String>, check: fn(&str) -> Result<(), validate::Problem>| {
        move || {
            let v = value.get();
            (!v.is_empty())
                .then(|| check(&v).err())
                .flatten()
                .map(|p| view! { <p class="field-error">{p.message(lang.get())}</p> })
        }
    };
    let confirm_hint = move || {
        let c = confirm.get();
        (!c.is_empty())
            .then(|| validate::password_confirm(&password.get(), &c).err())
            .flatten()
            .map(|p| view! { <p class="field-error">{p.message(lang.get())}</p> })
    };
    let result = move || {
        add.value().get().map(|r| match r {
            Ok(m) => {
                let name = m.username.clone();
                view! {
                    <p class="test-ok" role="status">
                        {move || match lang.get() {
                            Lang::Zh => format!("已添加 {name}（{}）", m.role.label(Lang::Zh)),
                            Lang::En => format!("Added {name} ({})", m.role.label(Lang::En)),
                        }}
                    </p>
                }
                .into_any()
            }
            Err(e) => {
                view! { <p class="form-error" role="alert">{e.message(lang.get())}</p> }.into_any()
            }
        })
    };
    view! {
        <section class="card" aria-labelledby="add-staff-heading">
            <h2 id="add-staff-heading">{tr("添加员工", "Add staff")}</h2>
            <form class="stacked add-staff" on:submit=move |ev| {
                ev.prevent_default();
                add.dispatch(AddStaff {
                    username: username.get_untracked(),
                    role: role.get_untracked(),
                    password: password.get_untracked(),
                    password_confirm: confirm.get_untracked(),
                });
            }>
                <label for="new-staff-username">{tr("用户名", "Username")}</label>
                <input id="new-staff-username" type="text" autocomplete="off" required
                    prop:value=move || username.get() on:input=move |ev| username.set(event_target_value(&ev)) />
                {hint(username, validate::username)}
                <label for="new-staff-role">{tr("角色", "Role")}</label>
                <select id="new-staff-role" prop:value=move || role.get().as_str()
                    on:change=move |ev| role.set(Role::parse(&event_target_value(&ev)).unwrap_or(Role::Operator))>
                    {[Role::Operator, Role::Admin].map(|r| view! { <option value=r.as_str()>{move || r.label(lang.get())}</option> })}
                </select>
                <label for="new-staff-password">{tr("初始密码", "Initial password")}</label>
                <input id="new-staff-password" type="password" autocomplete="new-password" required
                    prop:value=move || password.get() on:input=move |ev| password.set(event_target_value(&ev)) />
                {hint(password, validate::new_password)}
                <label for="new-staff-password-confirm">{tr("确认初始密码", "Confirm initial password")}</label>
                <input id="new-staff-password-confirm" type="password" autocomplete="new-password" required
                    prop:value=move || confirm.get() on:input=move |ev| confirm.set(event_target_value(&ev)) />
                {confirm_hint}
                {result}
                <button type="submit" class="primary" disabled=move || add.pending().get()>
                    {tr("添加员工", "Add staff")}
                </button>
            </form>
        </section>
    }
}
