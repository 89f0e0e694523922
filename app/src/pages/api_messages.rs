//! 接口消息: the messages business systems sent through the send API for the session's Official
//! Account, newest first, filtered on the server (state, errcode, key, channel, person, time),
//! with the counts per state and the last 24 hours by outcome.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use model::api_messages::{ApiMessageFilter, Period};
use model::send_api::{ApiMessageEntry, MessageState, Person};
use model::RowChannel;

use crate::components::api_chart::ApiChart;
use crate::components::empty_state::EmptyState;
use crate::dto::format_time_ms;
use crate::i18n::{tr, use_lang};
use crate::send_api::{api_messages, ApiMessagesDto};
use crate::url::query_string;

/// The filter the URL asks for, and the names of the parameters that are not one of the
/// choices (they filter nothing, and the page says so).
fn read_filter(get: impl Fn(&str) -> String) -> (ApiMessageFilter, Vec<&'static str>) {
    let mut bad = Vec::new();
    let mut pick = |name: &'static str, ok: bool| {
        if !ok {
            bad.push(name);
        }
    };
    let text = get("state");
    let state = MessageState::parse(&text);
    pick("state", text.is_empty() || state.is_some());
    let text = get("errcode");
    let errcode = text.trim().parse::<i64>().ok();
    pick("errcode", text.trim().is_empty() || errcode.is_some());
    let text = get("key");
    let key = text.parse::<i64>().ok().filter(|k| *k > 0);
    pick("key", text.is_empty() || key.is_some());
    let text = get("channel");
    let channel = RowChannel::parse(&text);
    pick("channel", text.is_empty() || channel.is_some());
    let text = get("period");
    let period = Period::parse(&text);
    pick("period", period.is_some());
    let person = get("person").trim().to_owned();
    let filter = ApiMessageFilter {
        state,
        errcode,
        key,
        channel,
        person: (!person.is_empty()).then_some(person),
        period: period.unwrap_or_default(),
    };
    (filter, bad)
}

/// The query string of `filter` (for links that keep it).
fn filter_query(f: &ApiMessageFilter) -> String {
    let errcode = f.errcode.map(|c| c.to_string()).unwrap_or_default();
    let key = f.key.map(|k| k.to_string()).unwrap_or_default();
    query_string(&[
        (
            "state",
            f.state.map(MessageState::as_str).unwrap_or_default(),
        ),
        ("errcode", &errcode),
        ("key", &key),
        (
            "channel",
            f.channel.map(RowChannel::as_str).unwrap_or_default(),
        ),
        ("person", f.person.as_deref().unwrap_or_default()),
        ("period", f.period.as_str()),
    ])
}

#[component]
pub fn ApiMessagesPage() -> impl IntoView {
    let lang = use_lang();
    let query = use_query_map();
    let read = Memo::new(move |_| {
        let q = query.read();
        read_filter(|name| q.get(name).unwrap_or_default())
    });
    let before = Memo::new(move |_| {
        query
            .read()
            .get("before")
            .and_then(|b| b.parse::<i64>().ok())
    });
    let page = Resource::new(
        move || (read.get().0, before.get()),
        |(filter, before)| api_messages(filter, before),
    );
    view! {
        <h1>{tr("接口消息", "API messages")}</h1>
        <p class="muted">{tr(
            "业务系统通过发送接口（设置 › 发送接口密钥）发给单个用户的消息。",
            "Messages business systems sent to one person each through the send API (Settings › Send API keys).",
        )}</p>
        {move || {
            let bad = read.get().1;
            (!bad.is_empty()).then(|| view! {
                <p class="form-error" role="alert">
                    {move || lang.get().pick(
                        format!("筛选条件 {} 不是可选的值，已忽略。", bad.join("、")),
                        format!("Ignored filters that are not one of the choices: {}.", bad.join(", ")),
                    )}
                </p>
            })
        }}
        <Transition fallback=|| view! { <p>"…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Ok(p) if !p.has_account => view! {
                        <EmptyState title=tr("还没有公众号", "No Official Account yet")
                            hint=tr("在设置中添加公众号。", "Add an Official Account in Settings.") />
                    }.into_any(),
                    Ok(p) => view! { <Messages page=p filter=read.get_untracked().0 /> }.into_any(),
                    Err(e) => view! { <p class="form-error" role="alert">{move || e.message(lang.get())}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// The filter form: a plain GET form, so it works before (and without) the app loading.
#[component]
fn Filters(filter: ApiMessageFilter, keys: Vec<(i64, String)>) -> impl IntoView {
    let lang = use_lang();
    let f = filter;
    let state = f.state;
    let channel = f.channel;
    let period = f.period;
    let key = f.key;
    let key_options = keys
        .into_iter()
        .map(|(id, name)| view! { <option value=id selected=key == Some(id)>{name}</option> })
        .collect_view();
    view! {
        <form method="get" action="/api-messages" class="filters" aria-label=tr("筛选接口消息", "Filter API messages")>
            <div class="filter-field">
                <label for="api-state">{tr("状态", "State")}</label>
                <select id="api-state" name="state">
                    <option value="" selected=state.is_none()>{tr("全部", "All")}</option>
                    {MessageState::ALL.into_iter().map(|s| view! {
                        <option value=s.as_str() selected=state == Some(s)>{move || s.label(lang.get())}</option>
                    }).collect_view()}
                </select>
            </div>
            <div class="filter-field">
                <label for="api-channel">{tr("渠道", "Channel")}</label>
                <select id="api-channel" name="channel">
                    <option value="" selected=channel.is_none()>{tr("全部", "All")}</option>
                    {[RowChannel::Template, RowChannel::Subscribe].into_iter().map(|c| view! {
                        <option value=c.as_str() selected=channel == Some(c)>{move || c.label(lang.get())}</option>
                    }).collect_view()}
                </select>
            </div>
            <div class="filter-field">
                <label for="api-key">{tr("密钥", "Key")}</label>
                <select id="api-key" name="key">
                    <option value="" selected=key.is_none()>{tr("全部", "All")}</option>
                    {key_options}
                </select>
            </div>
            <div class="filter-field">
                <label for="api-period">{tr("时间", "Time")}</label>
                <select id="api-period" name="period">
                    {Period::ALL.into_iter().map(|p| view! {
                        <option value=p.as_str() selected=period == p>{move || p.label(lang.get())}</option>
                    }).collect_view()}
                </select>
            </div>
            <div class="filter-field">
                <label for="api-errcode">{tr("错误码", "Errcode")}</label>
                <input id="api-errcode" name="errcode" type="text" inputmode="numeric" size="8"
                    value=f.errcode.map(|c| c.to_string()).unwrap_or_default() placeholder="43004" />
            </div>
            <div class="filter-field">
                <label for="api-person">{tr("收件人", "Recipient")}</label>
                <input id="api-person" name="person" type="search" size="24"
                    value=f.person.clone().unwrap_or_default()
                    placeholder=move || lang.get().pick("unionid 或 openid", "unionid or openid") />
            </div>
            <button type="submit">{tr("筛选", "Filter")}</button>
        </form>
    }
}

fn person_text(p: &Person) -> String {
    format!("{} {}", p.kind(), p.id())
}

#[component]
fn Messages(page: ApiMessagesDto, filter: ApiMessageFilter) -> impl IntoView {
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
    let query = filter_query(&filter);
    let older = page.next_before.map(|b| {
        let href = if query.is_empty() {
            format!("/api-messages?before={b}")
        } else {
            format!("/api-messages?{query}&before={b}")
        };
        view! { <a class="button" href=href>{tr("更早的消息", "Older messages")}</a> }
    });
    let body = if page.messages.is_empty() {
        view! {
            <EmptyState title=tr("没有接口消息", "No API messages")
                hint=tr("用发送接口密钥调用 POST /api/v1/messages 后，消息会出现在这里；也请检查筛选条件。", "Messages appear here once a system calls POST /api/v1/messages with a send key; check the filters too.") />
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
        <ApiChart hours=page.hours />
        <Filters filter keys=page.keys />
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
    let href = format!("/api-messages/{}", m.id);
    view! {
        <tr>
            <th scope="row">
                <a href=href>{m.id.clone()}</a>
            </th>
            <td><code>{person_text(&m.to)}</code></td>
            <td>{move || channel.label(lang.get())}</td>
            <td>{preset_name.unwrap_or_default()}</td>
            <td>{key_name}</td>
            <td><span class=format!("job-state state-{}", state.as_str())>{move || state.label(lang.get())}</span>{error}</td>
            <td class="muted">{format_time_ms(m.created_ms)}</td>
        </tr>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_round_trips_and_bad_values_are_named() {
        let pairs = [
            ("state", "failed"),
            ("errcode", "43004"),
            ("key", "3"),
            ("channel", "subscribe"),
            ("person", "o 1"),
            ("period", "24h"),
        ];
        let get = |n: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| (*v).to_owned())
                .unwrap_or_default()
        };
        let (f, bad) = read_filter(get);
        assert!(bad.is_empty());
        assert_eq!(f.errcode, Some(43004));
        assert_eq!(f.period, Period::Day);
        assert_eq!(
            filter_query(&f),
            "state=failed&errcode=43004&key=3&channel=subscribe&person=o%201&period=24h"
        );
        let (f, bad) = read_filter(|n| {
            if n == "errcode" {
                "x".into()
            } else if n == "state" {
                "nope".into()
            } else {
                String::new()
            }
        });
        assert_eq!(bad, ["state", "errcode"]);
        assert_eq!(f, ApiMessageFilter::default());
    }
}
