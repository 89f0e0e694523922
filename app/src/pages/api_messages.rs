//! 接口消息: the messages business systems sent through the send API for the session's Official
//! Account, newest first, filtered by state on the server, with the counts per state.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use model::send_api::{ApiMessageEntry, MessageState, Person};

use crate::components::empty_state::EmptyState;
use crate::dto::format_time_ms;
use crate::i18n::{tr, use_lang};
use crate::send_api::{api_messages, ApiMessagesDto};

#[component]
pub fn ApiMessagesPage() -> impl IntoView {
    let lang = use_lang();
    let query = use_query_map();
    // A state typed into the URL that is not one of the choices shows every message, and says so.
    let state = Memo::new(move |_| query.read().get("state").unwrap_or_default());
    let before = Memo::new(move |_| {
        query
            .read()
            .get("before")
            .and_then(|b| b.parse::<i64>().ok())
    });
    let page = Resource::new(
        move || (state.get(), before.get()),
        |(state, before)| api_messages(MessageState::parse(&state), before),
    );
    view! {
        <h1>{tr("接口消息", "API messages")}</h1>
        <p class="muted">{tr(
            "业务系统通过发送接口（设置 › 发送接口密钥）发给单个用户的消息。",
            "Messages business systems sent to one person each through the send API (Settings › Send API keys).",
        )}</p>
        <form method="get" action="/api-messages" class="filters" aria-label=tr("筛选接口消息", "Filter API messages")>
            <div class="filter-field">
            <label for="api-state">{tr("状态", "State")}</label>
            <select id="api-state" name="state">
                    <option value="" selected=move || MessageState::parse(&state.get()).is_none()>{tr("全部", "All")}</option>
                    {MessageState::ALL.into_iter().map(|s| view! {
                        <option value=s.as_str() selected=move || state.get() == s.as_str()>
                            {move || s.label(lang.get())}
                        </option>
                    }).collect_view()}
            </select>
            </div>
            <button type="submit">{tr("筛选", "Filter")}</button>
        </form>
        {move || {
            let s = state.get();
            (!s.is_empty() && MessageState::parse(&s).is_none()).then(|| view! {
                <p class="form-error" role="alert">{tr("状态只能从列表中选择，已显示全部消息。", "Choose a state from the list; every message is shown.")}</p>
            })
        }}
        <Transition fallback=|| view! { <p>"…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Ok(p) if !p.has_account => view! {
                        <EmptyState title=tr("还没有公众号", "No Official Account yet")
                            hint=tr("在设置中添加公众号。", "Add an Official Account in Settings.") />
                    }.into_any(),
                    Ok(p) => view! { <Messages page=p state=state.get_untracked() /> }.into_any(),
                    Err(e) => view! { <p class="form-error" role="alert">{move || e.message(lang.get())}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

fn person_text(p: &Person) -> String {
    format!("{} {}", p.kind(), p.id())
}

#[component]
fn Messages(page: ApiMessagesDto, state: String) -> impl IntoView {
    let lang = use_lang();
    let counts = page
        .counts
        .iter()
        .map(|(s, n)| {
            let (s, n) = (*s, *n);
            view! {
                <li>
                    <span class="count">{n}</span>
                    <span class="label">{move || s.label(lang.get())}</span>
                </li>
            }
        })
        .collect_view();
    let older = page.next_before.map(|b| {
        let href = if state.is_empty() {
            format!("/api-messages?before={b}")
        } else {
            format!("/api-messages?state={state}&before={b}")
        };
        view! { <a class="button" href=href>{tr("更早的消息", "Older messages")}</a> }
    });
    let body = if page.messages.is_empty() {
        view! {
            <EmptyState title=tr("没有接口消息", "No API messages")
                hint=tr("用发送接口密钥调用 POST /api/v1/messages 后，消息会出现在这里。", "Messages appear here once a system calls POST /api/v1/messages with a send key.") />
        }
        .into_any()
    } else {
        let rows = page
            .messages
            .into_iter()
            .map(|m| view! { <MessageRow m /> })
            .collect_view();
        view! {
            <table class="data">
                <thead><tr>
                    <th scope="col">"ID"</th>
                    <th scope="col">{tr("收件人", "Recipient")}</th>
                    <th scope="col">{tr("渠道", "Channel")}</th>
                    <th scope="col">{tr("预设", "Preset")}</th>
                    <th scope="col">{tr("密钥", "Key")}</th>
                    <th scope="col">{tr("状态", "State")}</th>
                    <th scope="col">{tr("接收时间", "Accepted")}</th>
                </tr></thead>
                <tbody>{rows}</tbody>
            </table>
        }
        .into_any()
    };
    view! {
        <ul class="state-counts" aria-label=tr("各状态的消息数", "Messages per state")>{counts}</ul>
        {body}
        {older}
    }
}

#[component]
fn MessageRow(m: ApiMessageEntry) -> impl IntoView {
    let lang = use_lang();
    let ApiMessageEntry {
        status: m,
        key_name,
        preset_name,
    } = m;
    let state = m.state;
    let channel = m.channel;
    let error = m.errcode.map(|c| {
        let msg = m.errmsg.clone().unwrap_or_default();
        view! { <span class="muted">" " {format!("({c} {msg})")}</span> }
    });
    view! {
        <tr>
            <th scope="row">{m.id.clone()}</th>
            <td><code>{person_text(&m.to)}</code></td>
            <td>{move || channel.label(lang.get())}</td>
            <td>{preset_name.unwrap_or_default()}</td>
            <td>{key_name}</td>
            <td><span class=format!("job-state state-{}", state.as_str())>{move || state.label(lang.get())}</span>{error}</td>
            <td class="muted">{format_time_ms(m.created_ms)}</td>
        </tr>
    }
}
