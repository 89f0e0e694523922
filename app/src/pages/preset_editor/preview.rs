//! The preview panel: the message (or 服务通知 card) as WeChat shows it, its payload, the test send.

use leptos::prelude::*;
use message::{
    subscribe_payload, subscribe_preview, template_payload, FieldRole, PresetBody, Preview,
    PreviewMode, SubscribePreview,
};
use model::wechat_message::{SubscribeMessage, TemplateMessage};
use model::AccountKind;

use super::test_send::TestSend;
use crate::components::message_preview::{MessagePreview, ServiceNoticePreview};
use crate::i18n::tr;
use crate::templates::{EditorDto, TemplateDto};

/// What the preview panel shows of the draft: the payload it sends and how WeChat shows it.
#[derive(Clone, Copy)]
pub(super) struct Previews {
    payload: Memo<Option<TemplateMessage>>,
    sub_payload: Memo<Option<SubscribeMessage>>,
    sub_preview: Memo<Option<SubscribePreview>>,
    mode: RwSignal<PreviewMode>,
    preview: Memo<Preview>,
    drops: Memo<Vec<&'static str>>,
}

impl Previews {
    pub(super) fn new(
        template: Memo<Option<TemplateDto>>,
        body: Memo<PresetBody>,
        dto: &EditorDto,
    ) -> Self {
        let touser = dto.test_openid.clone().unwrap_or_else(|| "OPENID".into());
        let mp_touser = dto
            .mp_test_openid
            .clone()
            .unwrap_or_else(|| "OPENID".into());
        let mp_name = dto.mp.as_ref().map(|m| m.name.clone()).unwrap_or_default();
        let payload = Memo::new(move |_| {
            template
                .get()
                .filter(|t| t.kind != AccountKind::Mp)
                .map(|t| template_payload(&touser, &t.template_id, &t.fields, &body.get(), None))
        });
        let sub_payload = Memo::new(move |_| {
            template
                .get()
                .filter(|t| t.kind == AccountKind::Mp)
                .map(|t| subscribe_payload(&mp_touser, &t.template_id, &t.fields, &body.get()))
        });
        let sub_preview = Memo::new(move |_| match (template.get(), sub_payload.get()) {
            (Some(t), Some(p)) => Some(subscribe_preview(&mp_name, &t.title, &t.fields, &p)),
            _ => None,
        });
        let mode = RwSignal::new(PreviewMode::Current);
        let preview = Memo::new(move |_| match (template.get(), payload.get()) {
            (Some(t), Some(p)) => message::preview(&t.title, &t.fields, &p, mode.get()),
            _ => Preview {
                title: String::new(),
                first: None,
                rows: Vec::new(),
                remark: None,
                jump: message::Jump::None,
            },
        });
        let drops = Memo::new(move |_| {
            let mut out = Vec::new();
            let (Some(t), Some(p)) = (template.get(), payload.get()) else {
                return out;
            };
            for role in [FieldRole::First, FieldRole::Remark] {
                let filled = t
                    .fields
                    .iter()
                    .filter(|f| f.role == role)
                    .any(|f| p.data.get(&f.key).is_some_and(|v| !v.value.is_empty()));
                if filled {
                    out.push(if role == FieldRole::First {
                        "first"
                    } else {
                        "remark"
                    });
                }
            }
            if p.data.values().any(|v| v.color.is_some()) {
                out.push("color");
            }
            let current = message::preview(&t.title, &t.fields, &p, PreviewMode::Current);
            if current.rows.iter().any(|r| r.truncated) {
                out.push("cut");
            }
            out
        });
        Self {
            payload,
            sub_payload,
            sub_preview,
            mode,
            preview,
            drops,
        }
    }

    /// The side of the editor: the preview, the payload as JSON, and the test send.
    pub(super) fn panel(
        self,
        is_subscribe: Memo<bool>,
        preset_id: i64,
        test_openid: Option<String>,
        mp_test_openid: Option<String>,
        saved_subscribe: Memo<bool>,
        dirty: Memo<bool>,
    ) -> AnyView {
        let Self {
            payload,
            sub_payload,
            sub_preview,
            mode,
            preview,
            drops,
        } = self;
        let payload_json = move || {
            payload
                .get()
                .map(|p| p.to_json())
                .or_else(|| sub_payload.get().map(|p| p.to_json()))
                .map(|json| serde_json::to_string_pretty(&json).unwrap_or_default())
        };
        let endpoint = move || {
            if is_subscribe.get() {
                "POST cgi-bin/message/subscribe/send"
            } else {
                "POST cgi-bin/message/template/send"
            }
        };
        view! {
                <div class="side">
                    {move || if is_subscribe.get() {
                        view! { <ServiceNoticePreview preview=sub_preview /> }.into_any()
                    } else {
                        view! { <MessagePreview preview mode drops /> }.into_any()
                    }}
                    <details class="payload">
                        <summary>{tr("发送内容（JSON）", "Payload (JSON)")}</summary>
                        <p class="muted"><code>{endpoint}</code></p>
                        <pre>{payload_json}</pre>
                    </details>
                    <TestSend preset_id test_openid mp_test_openid subscribe=saved_subscribe dirty />
                </div>
        }
        .into_any()
    }
}
