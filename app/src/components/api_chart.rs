//! The last 24 hours of API messages by outcome, as stacked hourly bars (server-rendered SVG)
//! with the figures also in a table for screen readers and for copying.

use leptos::prelude::*;
use model::api_messages::HourCounts;

use crate::i18n::{tr, use_lang};

const BAR: f64 = 24.0;
const GAP: f64 = 6.0;
const HEIGHT: f64 = 120.0;

/// The hour of day (Beijing time, as the console shows times) an hour starts at.
fn hour_of_day(start_ms: i64) -> i64 {
    (start_ms.div_euclid(3_600_000) + 8).rem_euclid(24)
}

#[component]
pub fn ApiChart(hours: Vec<HourCounts>) -> impl IntoView {
    let lang = use_lang();
    let peak = hours
        .iter()
        .map(HourCounts::total)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let total: i64 = hours.iter().map(HourCounts::total).sum();
    let width = hours.len() as f64 * (BAR + GAP);
    let bars = hours
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let x = i as f64 * (BAR + GAP);
            let mut y = HEIGHT;
            let parts = [
                ("sent", h.sent),
                ("failed", h.failed),
                ("unknown", h.unknown),
                ("other", h.other),
            ];
            let rects = parts
                .into_iter()
                .filter(|(_, n)| *n > 0)
                .map(|(class, n)| {
                    let height = n as f64 / peak * HEIGHT;
                    y -= height;
                    view! { <rect class=format!("bar-{class}") x=x y=y width=BAR height=height /> }
                })
                .collect_view();
            let label = format!("{:02}", hour_of_day(h.start_ms));
            view! {
                <g>
                    {rects}
                    <text x=x + BAR / 2.0 y=HEIGHT + 14.0 text-anchor="middle">{label}</text>
                </g>
            }
        })
        .collect_view();
    let rows = hours
        .iter()
        .filter(|h| h.total() > 0)
        .map(|h| {
            view! {
                <tr>
                    <th scope="row">{format!("{:02}:00", hour_of_day(h.start_ms))}</th>
                    <td>{h.sent}</td>
                    <td>{h.failed}</td>
                    <td>{h.unknown}</td>
                    <td>{h.other}</td>
                </tr>
            }
        })
        .collect_view();
    let summary = move || {
        lang.get().pick(
            format!("最近 24 小时共 {total} 条接口消息，按小时和结果统计"),
            format!("{total} API messages in the last 24 hours, by hour and outcome"),
        )
    };
    view! {
        <section class="card api-chart" aria-labelledby="api-chart-heading">
            <h2 id="api-chart-heading">{tr("最近 24 小时", "Last 24 hours")}</h2>
            <svg viewBox=format!("0 0 {width} {}", HEIGHT + 20.0) role="img" aria-label=summary
                preserveAspectRatio="none">
                {bars}
            </svg>
            <ul class="chart-legend">
                <li><span class="swatch bar-sent"></span>{tr("已发送", "Sent")}</li>
                <li><span class="swatch bar-failed"></span>{tr("失败", "Failed")}</li>
                <li><span class="swatch bar-unknown"></span>{tr("结果未知", "Unknown")}</li>
                <li><span class="swatch bar-other"></span>{tr("排队、发送中或已取消", "Queued, sending or cancelled")}</li>
            </ul>
            <details>
                <summary>{tr("按小时的数字", "Figures by hour")}</summary>
                <table class="data">
                    <thead><tr>
                        <th scope="col">{tr("小时", "Hour")}</th>
                        <th scope="col">{tr("已发送", "Sent")}</th>
                        <th scope="col">{tr("失败", "Failed")}</th>
                        <th scope="col">{tr("结果未知", "Unknown")}</th>
                        <th scope="col">{tr("其他", "Other")}</th>
                    </tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            </details>
        </section>
    }
}
