//! The followers page: server-side filtered and paged table, selection for sending, CSV export,
//! and the sync panel.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::components::empty_state::EmptyState;
use crate::components::sync_panel::SyncPanel;
use crate::dto::FollowersPageDto;
use crate::error::AppError;
use crate::followers::{list_followers, sync_status, CancelFollowerSync, StartFollowerSync};
use crate::i18n::{tr, use_lang};
use crate::url::query_string;
use model::recipients::{tri_code, FollowerFilter};
use model::sync::SyncProgress;

/// The page's filter, read from its URL: a value that is not one of the choices is refused.
pub fn filter_of_url(get: impl Fn(&str) -> Option<String>) -> Result<FollowerFilter, AppError> {
    FollowerFilter::from_query(get).map_err(AppError::Refused)
}

#[component]
pub fn FollowersPage() -> impl IntoView {
    let query = use_query_map();
    let filters = Memo::new(move |_| filter_of_url(|k| query.read().get(k)));
    let after = Memo::new(move |_| query.read().get("after").unwrap_or_default());
    let finished = RwSignal::new(0u32);
    // The sync panel's actions and data are made here, not inside a Suspend body (see
    // `SyncPanel`).
    let start = ServerAction::<StartFollowerSync>::new();
    let cancel = ServerAction::<CancelFollowerSync>::new();
    let status = Resource::new(
        move || {
            (
                start.version().get(),
                cancel.version().get(),
                finished.get(),
            )
        },
        |_| sync_status(),
    );
    let live = RwSignal::new(None::<SyncProgress>);
    let page = Resource::new(
        move || (filters.get(), after.get(), finished.get()),
        |(f, after, _)| async move { list_followers(f?, after).await },
    );

    view! {
        <h1>{tr("粉丝", "Followers")}</h1>
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                let s = status.await.ok().filter(|s| s.has_account)?;
                Some(view! { <SyncPanel base=s.progress live start cancel finished /> })
            })}
        </Transition>
        <Transition fallback=|| view! { <p>"…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Ok(p) if p.account.is_none() => view! {
                        <EmptyState
                            title=tr("还没有粉丝数据", "No followers yet")
                            hint=tr(
                                "尚未添加公众号。管理员可以在「设置」中添加，然后在这里同步粉丝。",
                                "No Official Account yet. An admin can add one under Settings; then sync its followers here.",
                            )
                        />
                    }.into_any(),
                    Ok(p) => view! {
                        <FilterForm filters=filters.get_untracked().unwrap_or_default() />
                        <FollowersTable page=p filters=filters.get_untracked().unwrap_or_default() />
                    }.into_any(),
                    Err(e) => {
                        let lang = use_lang();
                        view! { <p class="form-error" role="alert">{move || e.message(lang.get())}</p> }.into_any()
                    }
                }
            })}
        </Transition>
    }
}

#[component]
fn FilterForm(filters: FollowerFilter) -> impl IntoView {
    let choice =
        |value: &'static str, current: &str, label: &'static str, label_en: &'static str| {
            let selected = current == value;
            view! { <option value=value selected=selected>{tr(label, label_en)}</option> }
        };
    view! {
        <form method="get" action="/followers" class="filters" aria-label=tr("筛选粉丝", "Filter followers")>
            <label>
                <span>{tr("搜索", "Search")}</span>
                <input type="search" name="search" value=filters.search.clone() placeholder=tr("openid / unionid / 备注", "openid / unionid / remark") />
            </label>
            <label>
                <span>{tr("关注状态", "Following")}</span>
                <select name="subscribed">
                    {choice("", tri_code(filters.subscribed), "全部", "All")}
                    {choice("yes", tri_code(filters.subscribed), "已关注", "Following")}
                    {choice("no", tri_code(filters.subscribed), "已取消关注", "Unfollowed")}
                </select>
            </label>
            <label>
                <span>"unionid"</span>
                <select name="unionid">
                    {choice("", tri_code(filters.has_unionid), "全部", "All")}
                    {choice("yes", tri_code(filters.has_unionid), "有 unionid", "With unionid")}
                    {choice("no", tri_code(filters.has_unionid), "无 unionid", "Without unionid")}
                </select>
            </label>
            <label>
                <span>{tr("小程序匹配", "Mini Program match")}</span>
                <select name="matched">
                    {choice("", tri_code(filters.matched), "全部", "All")}
                    {choice("yes", tri_code(filters.matched), "已匹配", "Matched")}
                    {choice("no", tri_code(filters.matched), "未匹配", "Not matched")}
                </select>
            </label>
            <label>
                <span>{tr("标签 ID", "Tag id")}</span>
                <input type="text" inputmode="numeric" name="tag" size="6" value=filters.tag.map(|t| t.to_string()).unwrap_or_default() />
            </label>
            <button type="submit">{tr("筛选", "Filter")}</button>
            <a href="/followers">{tr("清除筛选", "Clear filters")}</a>
        </form>
    }
}

#[component]
fn FollowersTable(page: FollowersPageDto, filters: FollowerFilter) -> impl IntoView {
    let lang = use_lang();
    let all_on_page = RwSignal::new(false);
    let total = page.total;
    let filter_pairs = filters.pairs();
    let filter_pairs: Vec<(&str, &str)> =
        filter_pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let filter_qs = query_string(&filter_pairs);
    let export_href = format!("/export/followers.csv?{filter_qs}");
    let next_href = page.next_after.as_ref().map(|a| {
        let mut pairs = filter_pairs.clone();
        pairs.push(("after", a.as_str()));
        format!("/followers?{}", query_string(&pairs))
    });
    let first_href = format!("/followers?{filter_qs}");
    let hidden_filters = filters
        .pairs()
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| view! { <input type="hidden" name=k value=v /> })
        .collect_view();
    let rows = page
        .rows
        .into_iter()
        .map(|r| {
            let label = format!("选择 {}", r.openid);
            let label_en = format!("Select {}", r.openid);
            let tags = r.tags.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(", ");
            let subscribed = r.subscribed;
            view! {
                <tr>
                    <td>
                        <input
                            type="checkbox"
                            name="openid"
                            value=r.openid.clone()
                            prop:checked=move || all_on_page.get()
                            aria-label=move || lang.get().pick(label.clone(), label_en.clone())
                        />
                    </td>
                    <td><code>{r.openid}</code></td>
                    <td><code>{r.unionid.unwrap_or_default()}</code></td>
                    <td>{move || if subscribed { lang.get().pick("已关注", "Following") } else { lang.get().pick("已取消关注", "Unfollowed") }}</td>
                    <td>{r.subscribe_time.unwrap_or_default()}</td>
                    <td>{tags}</td>
                    <td><code>{r.mp_openid.unwrap_or_default()}</code></td>
                </tr>
            }
        })
        .collect_view();

    view! {
        <form method="get" action="/jobs/new" class="card" aria-label=tr("选择粉丝", "Select followers")>
            {hidden_filters}
            <div class="table-head">
                <p class="count" role="status">
                    {move || match lang.get() {
                        crate::i18n::Lang::Zh => format!("共 {} 位粉丝符合条件", crate::dto::thousands(total)),
                        crate::i18n::Lang::En => format!("{} followers match", crate::dto::thousands(total)),
                    }}
                </p>
                <a href=export_href download="followers.csv">{tr("导出 CSV", "Export CSV")}</a>
            </div>
            <div class="table-scroll">
            <table class="data followers">
                <thead>
                    <tr>
                        <th scope="col">
                            <input type="checkbox" aria-label=tr("全选本页", "Select this page") on:change=move |ev| all_on_page.set(event_target_checked(&ev)) />
                        </th>
                        <th scope="col">"openid"</th>
                        <th scope="col">"unionid"</th>
                        <th scope="col">{tr("关注状态", "Following")}</th>
                        <th scope="col">{tr("关注时间", "Followed at")}</th>
                        <th scope="col">{tr("标签", "Tags")}</th>
                        <th scope="col">{tr("小程序 openid", "Mini Program openid")}</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
            </div>
            <div class="table-foot">
                <a href=first_href>{tr("第一页", "First page")}</a>
                {next_href.map(|h| view! { <a href=h>{tr("下一页", "Next page")}</a> })}
                <span class="spacer"></span>
                <button type="submit" name="mode" value="selected" class="primary">{tr("发送给所选", "Send to selected")}</button>
                <button type="submit" name="mode" value="all">
                    {move || match lang.get() {
                        crate::i18n::Lang::Zh => format!("发送给全部 {} 位符合条件的粉丝", crate::dto::thousands(total)),
                        crate::i18n::Lang::En => format!("Send to all {} matching", crate::dto::thousands(total)),
                    }}
                </button>
            </div>
        </form>
    }
}
