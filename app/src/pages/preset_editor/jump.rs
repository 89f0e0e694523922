//! Where a tap leads: link and Mini Program (template), or page, version, language (subscribe).

use leptos::prelude::*;

use super::checks::Checks;
use crate::i18n::{tr, Lang};

/// A template message's jump: a link, and a linked Mini Program with its page path.
pub(super) fn template_jump(
    url: RwSignal<String>,
    mp_appid: RwSignal<String>,
    pagepath: RwSignal<String>,
    linked: StoredValue<Vec<String>>,
    readonly: bool,
    checks: Checks,
    lang: RwSignal<Lang>,
) -> impl IntoView {
    let error_of = move |field: &'static str| checks.error_of(field, lang);
    let invalid = move |field: &'static str| checks.invalid(field, lang);
    let linked_options = move || {
        linked.with_value(|ids| {
            ids.iter()
                .map(|a| view! { <option value=a.clone() selected=*a == mp_appid.get_untracked()>{a.clone()}</option> })
                .collect_view()
        })
    };
    let has_linked = linked.with_value(|l| !l.is_empty());
    view! {
        <fieldset class="jump">
            <legend>{tr("点击消息后跳转", "Where a tap leads")}</legend>
            <div class="form-grid">
                <label for="preset-url">{tr("跳转链接", "Link URL")}</label>
                <div>
                    <input id="preset-url" type="url" placeholder="https://" prop:value=move || url.get() readonly=readonly
                        aria-invalid=invalid("url") aria-describedby="err-url"
                        on:input=move |ev| { url.set(event_target_value(&ev)); checks.touch("url"); } />
                    {error_of("url")}
                </div>
                <label for="preset-mp">{tr("小程序", "Mini Program")}</label>
                <div>
                    <select id="preset-mp" disabled=readonly aria-invalid=invalid("miniprogram.appid") aria-describedby="err-miniprogram-appid"
                        on:change=move |ev| { mp_appid.set(event_target_value(&ev)); checks.touch("miniprogram.appid"); }>
                        <option value="" selected=mp_appid.get_untracked().is_empty()>{tr("不跳转小程序", "No Mini Program")}</option>
                        {linked_options}
                    </select>
                    {(!has_linked).then(|| view! { <p class="muted hint">{tr("此公众号未关联小程序（在「设置」中关联）。", "No Mini Program is linked to this account (link one in Settings).")}</p> })}
                    {error_of("miniprogram.appid")}
                </div>
                <label for="preset-pagepath">{tr("小程序页面路径", "Mini Program page path")}</label>
                <div>
                    <input id="preset-pagepath" type="text" placeholder="pages/index/index?id=1" prop:value=move || pagepath.get() readonly=readonly
                        aria-invalid=invalid("miniprogram.pagepath") aria-describedby="err-miniprogram-pagepath"
                        on:input=move |ev| { pagepath.set(event_target_value(&ev)); checks.touch("miniprogram.pagepath"); } />
                    {error_of("miniprogram.pagepath")}
                </div>
            </div>
            <p class="muted hint">{tr(
                "同时设置时，微信优先打开小程序；链接作为旧版客户端的备用。",
                "When both are set WeChat opens the Mini Program; the link is the fallback for old clients.",
            )}</p>
        </fieldset>
    }
}

/// A subscribe message's jump: a page of the linked Mini Program, its version and language.
pub(super) fn subscribe_jump(
    page: RwSignal<String>,
    mp_state: RwSignal<String>,
    mp_lang: RwSignal<String>,
    readonly: bool,
    checks: Checks,
    lang: RwSignal<Lang>,
) -> impl IntoView {
    let error_of = move |field: &'static str| checks.error_of(field, lang);
    let invalid = move |field: &'static str| checks.invalid(field, lang);
    let state_option = move |value: &'static str, zh: &'static str, en: &'static str| {
        view! { <option value=value selected=mp_state.get_untracked() == value>{move || lang.get().pick(zh, en)}</option> }
    };
    let lang_option = move |value: &'static str, label: &'static str| {
        view! { <option value=value selected=mp_lang.get_untracked() == value>{label}</option> }
    };
    view! {
        <fieldset class="jump">
            <legend>{tr("点击消息后跳转", "Where a tap leads")}</legend>
            <div class="form-grid">
                <label for="preset-page">{tr("跳转页面", "Page")}</label>
                <div>
                    <input id="preset-page" type="text" placeholder="pages/index/index?id=1" prop:value=move || page.get() readonly=readonly
                        aria-invalid=invalid("page") aria-describedby="err-page"
                        on:input=move |ev| { page.set(event_target_value(&ev)); checks.touch("page"); } />
                    <p class="muted hint">{tr(
                        "小程序页面路径，可带参数，不以 / 开头；留空则点击后不跳转。页面须存在于所选版本中，否则微信返回 41030。",
                        "A page path of the Mini Program, query allowed, no leading /; leave empty for no jump. The page must exist in the chosen version, or WeChat answers 41030.",
                    )}</p>
                    {error_of("page")}
                </div>
                <label for="preset-mp-state">{tr("小程序版本", "Mini Program version")}</label>
                <div>
                    <select id="preset-mp-state" disabled=readonly aria-invalid=invalid("miniprogram_state") aria-describedby="err-miniprogram_state"
                        on:change=move |ev| { mp_state.set(event_target_value(&ev)); checks.touch("miniprogram_state"); }>
                        {state_option("formal", "正式版", "Release")}
                        {state_option("trial", "体验版", "Trial")}
                        {state_option("developer", "开发版", "Developer")}
                    </select>
                    {error_of("miniprogram_state")}
                </div>
                <label for="preset-lang">{tr("语言", "Language")}</label>
                <div>
                    <select id="preset-lang" disabled=readonly aria-invalid=invalid("lang") aria-describedby="err-lang"
                        on:change=move |ev| { mp_lang.set(event_target_value(&ev)); checks.touch("lang"); }>
                        {lang_option("zh_CN", "简体中文 (zh_CN)")}
                        {lang_option("en_US", "English (en_US)")}
                        {lang_option("zh_HK", "繁體中文・香港 (zh_HK)")}
                        {lang_option("zh_TW", "繁體中文・台灣 (zh_TW)")}
                    </select>
                    {error_of("lang")}
                </div>
            </div>
            <p class="muted hint">{tr(
                "订阅消息没有颜色、链接或其他小程序的跳转：消息属于关联的小程序，点击后打开上面的页面。",
                "Subscribe messages have no colors, link or other Mini Program: the message belongs to the linked Mini Program and a tap opens the page above.",
            )}</p>
        </fieldset>
    }
}
