//! The domain vocabulary shared by the engine, the app (browser and server), the CLI, the HTTP
//! APIs and the WeChat client: identifiers, states, limits, input rules and refusals, with the
//! words they are shown in. No I/O, so it compiles for the browser too.

pub mod account;
pub mod api_messages;
pub mod audit;
pub mod instance;
pub mod job;
pub mod lang;
pub mod number;
pub mod openid;
pub mod path;
pub mod recipients;
pub mod refusal;
pub mod rules;
pub mod schedule;
pub mod send_api;
pub mod send_rules;
pub mod sheet;
pub mod staff;
pub mod sync;
pub mod value;
pub mod webhook;
pub mod wechat_message;

pub use account::AccountKind;
pub use audit::AuditAction;
pub use job::{
    Channel, Delivery, JobAction, JobState, PauseReason, RecipientState, RowChannel, SkipReason,
};
pub use lang::Lang;
pub use recipients::{FollowerFilter, RecipientSource};
pub use refusal::{Problem, Refusal};
pub use staff::Role;
pub use sync::SyncState;
