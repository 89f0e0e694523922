//! The dashboard: follower and Mini Program match counts of the current Official Account, a chart
//! of the breakdown, the last sync, and the linked Mini Program's subscription credits by
//! template.

use leptos::prelude::*;
use model::SyncState;

use crate::components::empty_state::EmptyState;
use crate::dto::{format_time_ms, DashboardDto, SessionInfo, TemplateCreditsDto};
use crate::followers::dashboard;
use crate::i18n::{tr, use_lang, Lang};

#[component]
pub fn DashboardPage() -> impl IntoView {
    let lang = use_lang();
    let name = use_context::<SessionInfo>()
        .and_then(|i| i.user)
        .map(|u| u.username)
        .unwrap_or_default();
    let data = Resource::new(|| (), |_| dashboard());
    view! {
        <h1>{tr("仪表盘", "Dashboard")}</h1>
        <p class="welcome">{move || lang.get().pick("欢迎，", "Welcome, ")} {name}</p>
        <Transition fallback=|| view! { <p>"…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(d) if d.account.is_none() => view! {
                        <EmptyState
                            title=tr("还没有数据", "No data yet")
                            hint=tr(
                                "尚未连接公众号或小程序，因此没有粉丝和匹配数据。管理员可以在「设置」中添加账号。",
                                "No Official Account or Mini Program is connected, so there are no follower or match figures yet. An admin can add an account under Settings.",
                            )
                        />
                    }.into_any(),
                    Ok(d) if !d.synced => view! {
                        <EmptyState
                            title=tr("还没有粉丝数据", "No follower data yet")
                            hint=tr(
                                "这个公众号还没有同步过粉丝。在「粉丝」页点击「同步粉丝」。",
                                "This Official Account has not been synced yet. Use Sync followers on the Followers page.",
                            )
                        />
                        <MpCards d=d />
                    }.into_any(),
                    Ok(d) => view! { <Figures d=d /> }.into_any(),
                    Err(e) => view! { <p class="form-error" role="alert">{move || e.message(lang.get())}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Card(label: (&'static str, &'static str), value: i64, hint: Option<String>) -> impl IntoView {
    let lang = use_lang();
    let id = format!("card-{}", label.1.to_lowercase().replace(' ', "-"));
    view! {
        <section class="stat-card" aria-labelledby=id.clone()>
            <h2 id=id.clone()>{move || lang.get().pick(label.0, label.1)}</h2>
            <p class="stat-value">{crate::dto::thousands(value)}</p>
            {hint.map(|h| view! { <p class="muted stat-hint">{h}</p> })}
        </section>
    }
}

#[component]
fn MpCards(d: DashboardDto) -> impl IntoView {
    (d.has_linked_mp).then(|| {
        view! {
            <div class="stat-grid">
                <Card label=("小程序用户", "Mini Program users") value=d.mp_users hint=d.mp_name.clone() />
                <Card label=("已匹配小程序用户", "Matched to a Mini Program user") value=d.matched hint=None />
                <Card label=("小程序用户未关注公众号", "Mini Program users not following") value=d.mp_not_following hint=None />
            </div>
            <SubscriptionCredits templates=d.subscription_credits.clone() />
        }
    })
}

/// Who can be sent each subscribe template of the linked Mini Program, from the credits its
/// users granted (popup events, the MP backend's reports) minus what sends used.
#[component]
fn SubscriptionCredits(templates: Vec<TemplateCreditsDto>) -> impl IntoView {
    let lang = use_lang();
    let body = if templates.is_empty() {
        view! {
            <p class="muted">
                {tr(
                    "还没有小程序订阅消息模板：管理员可在「模板」页同步。",
                    "No Mini Program subscribe template yet: an admin can sync them on the Templates page.",
                )}
            </p>
        }
        .into_any()
    } else {
        let rows = templates
            .into_iter()
            .map(|t| {
                let long_term = t.long_term;
                view! {
                    <tr>
                        <th scope="row">
                            {t.title.clone()}
                            <br />
                            <small class="muted">{t.template_id.clone()}</small>
                        </th>
                        <td>
                            {move || if long_term {
                                lang.get().pick("长期订阅", "Long-term")
                            } else {
                                lang.get().pick("一次性订阅", "One-time")
                            }}
                        </td>
                        <td>{t.holders}</td>
                        <td>{t.one_time_total}</td>
                        <td>{t.long_term_users}</td>
                        <td>{t.refused_users}</td>
                    </tr>
                }
            })
            .collect_view();
        view! {
            <table class="data subscription-credits">
                <caption class="visually-hidden">{tr("各模板的订阅消息额度", "Subscription credits by template")}</caption>
                <thead>
                    <tr>
                        <th scope="col">{tr("模板", "Template")}</th>
                        <th scope="col">{tr("类型", "Type")}</th>
                        <th scope="col">{tr("可发送的用户", "Users with a credit")}</th>
                        <th scope="col">{tr("一次性额度合计", "One-time credits in total")}</th>
                        <th scope="col">{tr("长期订阅用户", "Long-term subscribers")}</th>
                        <th scope="col">{tr("已拒绝的用户", "Users who refused")}</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        }
        .into_any()
    };
    view! {
        <section class="card" aria-labelledby="credits-heading">
            <h2 id="credits-heading">{tr("订阅消息额度", "Subscription credits")}</h2>
            <p class="muted">
                {tr(
                    "用户在小程序中同意订阅后才能收到订阅消息：一次性订阅每次同意可发送一条，长期订阅不限次数。",
                    "Mini Program users receive subscribe messages only after agreeing: each one-time consent allows one message, a long-term subscription any number.",
                )}
            </p>
            {body}
        </section>
    }
}

#[component]
fn Figures(d: DashboardDto) -> impl IntoView {
    let lang = use_lang();
    let without = d.without_unionid_subscribed + d.without_unionid_unsubscribed;
    // Why followers lack a unionid: with none at all the account is not bound to an Open
    // Platform account; unsubscribed people cannot be looked up any more.
    let reason = if d.with_unionid == 0 && d.followers > 0 {
        lang.get_untracked().pick(
            "所有粉丝都没有 unionid：公众号可能未绑定微信开放平台账号",
            "No follower has a unionid: the account is probably not bound to an Open Platform account",
        )
        .to_owned()
    } else {
        match lang.get_untracked() {
            Lang::Zh => format!(
                "其中 {} 位已取消关注（无法再获取 unionid），{} 位仍关注",
                crate::dto::thousands(d.without_unionid_unsubscribed),
                crate::dto::thousands(d.without_unionid_subscribed)
            ),
            Lang::En => format!(
                "{} unfollowed (their unionid can no longer be fetched), {} still following",
                crate::dto::thousands(d.without_unionid_unsubscribed),
                crate::dto::thousands(d.without_unionid_subscribed)
            ),
        }
    };
    let last = d.last_sync.clone().map(|s| {
        let when = s
            .finished_at_ms
            .or(Some(s.started_at_ms))
            .map(format_time_ms)
            .unwrap_or_default();
        let state = s.state;
        view! {
            <p class="muted last-sync">
                {move || lang.get().pick("上次同步：", "Last sync: ")}
                {when}
                " · "
                {move || match (state, lang.get()) {
                    (SyncState::Done, Lang::Zh) => "已完成".to_owned(),
                    (SyncState::Done, Lang::En) => "finished".to_owned(),
                    (SyncState::Failed, Lang::Zh) => "失败".to_owned(),
                    (SyncState::Failed, Lang::En) => "failed".to_owned(),
                    (SyncState::Cancelled, Lang::Zh) => "已取消".to_owned(),
                    (SyncState::Cancelled, Lang::En) => "cancelled".to_owned(),
                    (SyncState::Listing | SyncState::Detailing, Lang::Zh) => "进行中".to_owned(),
                    (SyncState::Listing | SyncState::Detailing, Lang::En) => "running".to_owned(),
                }}
            </p>
        }
    });
    let bars = vec![
        (("当前关注", "Following"), d.subscribed),
        (("有 unionid", "With unionid"), d.with_unionid),
        (("已匹配小程序", "Matched to MP"), d.matched),
        (("无 unionid", "Without unionid"), without),
        (("小程序未关注", "MP not following"), d.mp_not_following),
    ];
    view! {
        {last}
        <div class="stat-grid">
            <Card label=("粉丝总数", "Followers") value=d.followers hint=None />
            <Card label=("当前关注", "Following now") value=d.subscribed hint=None />
            <Card label=("有 unionid", "With unionid") value=d.with_unionid hint=None />
            <Card label=("无 unionid", "Without unionid") value=without hint=Some(reason) />
        </div>
        <MpCards d=d.clone() />
        <BreakdownChart bars=bars />
    }
}

/// Horizontal bars drawn as SVG (no inline styles: the CSP allows none).
#[component]
fn BreakdownChart(bars: Vec<((&'static str, &'static str), i64)>) -> impl IntoView {
    let lang = use_lang();
    let max = bars.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1);
    let row_h = 34;
    let height = (bars.len() as i64 * row_h + 10).to_string();
    let rows = bars
        .into_iter()
        .enumerate()
        .map(|(i, (label, value))| {
            let y = i as i64 * row_h + 6;
            let width = (value * 560 / max).max(if value > 0 { 2 } else { 0 });
            view! {
                <g>
                    <text x="0" y=(y + 18).to_string() class="chart-label">{move || lang.get().pick(label.0, label.1)}</text>
                    <rect x="150" y=y.to_string() width=width.to_string() height="22" rx="3" class="chart-bar"></rect>
                    <text x=(158 + width).to_string() y=(y + 16).to_string() class="chart-value">{crate::dto::thousands(value)}</text>
                </g>
            }
        })
        .collect_view();
    view! {
        <section class="card" aria-labelledby="chart-heading">
            <h2 id="chart-heading">{tr("构成", "Breakdown")}</h2>
            <svg class="chart" viewBox=format!("0 0 800 {height}") role="img" aria-label=tr("粉丝与匹配构成图", "Chart of followers and matches")>
                {rows}
            </svg>
        </section>
    }
}
