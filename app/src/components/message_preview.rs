//! A template message drawn as WeChat shows it today, or in the pre-2023 look, and a subscribe
//! message drawn as its 服务通知 (service notification) card, from the payload that would be sent.

use leptos::prelude::*;
use message::{Jump, Preview, PreviewMode, PreviewRow, SubscribePreview};

use crate::i18n::{tr, use_lang};

#[component]
pub fn MessagePreview(
    preview: Memo<Preview>,
    mode: RwSignal<PreviewMode>,
    /// Whether the preset fills first/remark or sets colors, which today's WeChat drops.
    drops: Memo<Vec<&'static str>>,
) -> impl IntoView {
    let lang = use_lang();
    let row = move |r: PreviewRow| {
        // Set through the CSSOM (`style:`), which the CSP allows, unlike a style attribute.
        let color = r.color.clone();
        let full = r.truncated.then(|| r.text.clone());
        view! {
            <div class="wx-row">
                <dt>{r.label}</dt>
                <dd style:color=color title=full>{r.text}</dd>
            </div>
        }
    };
    let line = move |r: Option<PreviewRow>, class: &'static str| {
        r.map(|r| {
            let color = r.color.clone();
            view! { <p class=class style:color=color>{r.text}</p> }
        })
    };
    let mode_button = move |m: PreviewMode, zh: &'static str, en: &'static str| {
        view! {
            <button type="button" aria-pressed=move || (mode.get() == m).to_string()
                on:click=move |_| mode.set(m)>
                {move || lang.get().pick(zh, en)}
            </button>
        }
    };
    view! {
        <section class="preview" aria-labelledby="preview-heading">
            <div class="section-head">
                <h2 id="preview-heading">{tr("预览", "Preview")}</h2>
                <div class="segmented" role="group" aria-label=move || lang.get().pick("预览样式", "Preview style")>
                    {mode_button(PreviewMode::Current, "当前样式", "Today")}
                    {mode_button(PreviewMode::Legacy, "旧版样式", "Legacy")}
                </div>
            </div>
            <article class="wx-card" aria-label=move || lang.get().pick("消息预览", "Message preview")>
                {move || {
                    let p = preview.get();
                    let jump = match p.jump {
                        Jump::None => None,
                        Jump::Url(_) => Some(view! { <p class="wx-jump">{tr("详情", "Details")}<span aria-hidden="true">" ›"</span></p> }.into_any()),
                        Jump::MiniProgram { .. } => Some(view! { <p class="wx-jump mini">{tr("小程序", "Mini Program")}<span aria-hidden="true">" ›"</span></p> }.into_any()),
                    };
                    view! {
                        <h3 class="wx-title">{p.title}</h3>
                        {line(p.first, "wx-first")}
                        <dl class="wx-rows">{p.rows.into_iter().map(row).collect_view()}</dl>
                        {line(p.remark, "wx-remark")}
                        {jump}
                    }
                }}
            </article>
            <p class="muted preview-note">
                {move || if mode.get() == PreviewMode::Current {
                    lang.get().pick(
                        "自 2023 年 5 月 4 日起，微信不再显示首行（first）和备注（remark），不显示自定义颜色，每个关键词最多显示 20 个字，超出部分显示为“…”，换行后的内容被丢弃。这是为了让模板消息只承载服务通知、不被当作营销渠道。",
                        "Since 4 May 2023 WeChat no longer shows the first and remark lines or custom colors, shows at most 20 characters per keyword (then \"…\") and drops everything after a line break, so template messages carry service notices rather than marketing.",
                    )
                } else {
                    lang.get().pick(
                        "旧版样式：2023 年之前的显示方式，首行、备注和颜色都会显示。现在的微信不再这样显示。",
                        "Legacy look: how messages showed before 2023, with first, remark and colors. Today's WeChat no longer shows them this way.",
                    )
                }}
            </p>
            {move || {
                let d = drops.get();
                (!d.is_empty() && mode.get() == PreviewMode::Current).then(|| {
                    let items = d.into_iter().map(|k| view! { <li>{move || drop_text(k, lang.get() == crate::i18n::Lang::En)}</li> }).collect_view();
                    view! { <ul class="drops" aria-label=move || lang.get().pick("微信不会显示", "WeChat will not show")>{items}</ul> }
                })
            }}
        </section>
    }
}

/// What the preset sets that today's WeChat drops, in words.
fn drop_text(kind: &'static str, english: bool) -> &'static str {
    match (kind, english) {
        ("first", false) => "已填写首行（first），不会显示",
        ("first", true) => "The first line is filled in but will not show",
        ("remark", false) => "已填写备注（remark），不会显示",
        ("remark", true) => "The remark is filled in but will not show",
        ("color", false) => "已设置颜色，将以默认颜色显示",
        ("color", true) => "Colors are set but show in the default color",
        ("cut", false) => "有关键词超过 20 个字或含换行，会被截断",
        ("cut", true) => "A keyword exceeds 20 characters or has a line break and is cut",
        (_, false) => "部分内容不会显示",
        (_, true) => "Some content will not show",
    }
}

/// A Mini Program subscribe message as the 服务通知 card: the Mini Program's name, the title,
/// `label value` rows, and "进入小程序查看" when a tap opens a page.
#[component]
pub fn ServiceNoticePreview(preview: Memo<Option<SubscribePreview>>) -> impl IntoView {
    let lang = use_lang();
    view! {
        <section class="preview" aria-labelledby="preview-heading">
            <div class="section-head">
                <h2 id="preview-heading">{tr("预览", "Preview")}</h2>
                <span class="muted">{tr("服务通知", "Service notification")}</span>
            </div>
            <article class="wx-card wx-notice" aria-label=move || lang.get().pick("服务通知预览", "Service notification preview")>
                {move || preview.get().map(|p| {
                    let rows = p.rows.into_iter().map(|r| view! {
                        <div class="wx-row">
                            <dt>{r.label}</dt>
                            <dd>{r.text}</dd>
                        </div>
                    }).collect_view();
                    let footer = p.page.map(|page| view! {
                        <p class="wx-jump mini" title=page>{tr("进入小程序查看", "Open in the Mini Program")}<span aria-hidden="true">" ›"</span></p>
                    });
                    view! {
                        <p class="wx-notice-app"><span class="wx-notice-icon" aria-hidden="true"></span>{p.mp_name}</p>
                        <h3 class="wx-title">{p.title}</h3>
                        <dl class="wx-rows">{rows}</dl>
                        {footer}
                    }
                })}
            </article>
            <p class="muted preview-note">{tr(
                "订阅消息显示在微信的「服务通知」里，以小程序的名义发出：没有颜色、首行和备注；每个值都须符合关键词类型的规则，否则微信返回 47003。用户须先在小程序中订阅此模板（一次性订阅每次授权只能收一条），否则微信返回 43101。",
                "Subscribe messages appear under WeChat's \"Service notifications\", sent in the Mini Program's name: no colors, first or remark line; every value must follow its keyword type's rule, or WeChat answers 47003. The user must first subscribe to this template in the Mini Program (a one-time subscription allows one message per consent), or WeChat answers 43101.",
            )}</p>
        </section>
    }
}
