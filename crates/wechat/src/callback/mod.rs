//! Pushes to the server URL: signatures, safe-mode AES crypto, request checks and event parsing.
//!
//! Typical flow for an HTTP handler (see `wechat-api.md` §4):
//! 1. `GET`: [`mode::verify_url`] returns the `echostr` to send back verbatim.
//! 2. `POST`: [`push::read_push`] does all of this and checks the sender;
//!    [`mode::open_message`] checks the body size, the timestamp and the signature
//!    (plain) or the `msg_signature` (safe/compat), decrypts, and returns the plaintext body;
//!    [`events::parse_event`] turns that into an [`events::Event`].
//! 3. Reply `success` (or an empty body); an encrypted passive reply is built with
//!    [`crypto::encrypted_reply_xml`].

pub mod crypto;
mod doc;
pub mod error;
pub mod events;
pub mod mode;
pub mod push;
pub mod signature;

pub use crypto::{AesKey, EncryptedReply};
pub use error::CallbackError;
pub use events::{
    parse_event, DeliveryStatus, Event, SubscribeChangeItem, SubscribePopupItem, SubscribeSentItem,
    SubscribeStatus,
};
pub use mode::{
    open_message, verify_url, AccountConfig, CallbackPolicy, CallbackQuery, OpenedMessage,
};
pub use push::{read_push, Push, PushError};
