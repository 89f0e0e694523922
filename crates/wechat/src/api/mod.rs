//! The WeChat server API over HTTP: tokens, followers, templates, sends and Mini Program login.
//!
//! One [`Client`] serves every account; each call takes the account's API base URL
//! (`https://api.weixin.qq.com`, or a simulator's `http://127.0.0.1:PORT`). Every answer goes
//! through [`decode`]: `errcode` first (absent or 0 = success, whatever the Content-Type), then
//! the typed body. The `parse_*` functions are the per-endpoint decoders the calls use; they
//! take the HTTP status and raw body so recorded or simulated answers can be checked directly.
//! Failures are one [`ApiError`], classified by [`ApiError::class`] on the errcode only.

pub mod client;
pub mod error;
pub mod send;
pub mod sns;
pub mod subscribe;
pub mod templates;
pub mod token;
pub mod users;

pub use client::{decode, endpoint_name, Client, Observer, Outcome};
pub use error::{ApiError, ErrorClass};
pub use send::{parse_send_template, MiniProgram, TemplateMessage, TemplateValue};
pub use sns::{parse_code2session, Code2Session, SessionKey};
pub use subscribe::{parse_send_subscribe, SubscribeMessage, SubscribeValue};
pub use templates::{parse_mp_templates, parse_templates, KeywordEnumValue, MpTemplate, Template};
pub use token::{parse_token, AccessToken};
pub use users::{
    parse_tags, parse_user_info, parse_user_info_batch, parse_user_page, Tag, UserInfo, UserPage,
    BATCH_MAX,
};
