//! The send API's engine side: keys, accepting a message for one person, and its status.
//! An Official Account's API messages are the rows of one job of kind `api` that never
//! finishes, so they go through the same dispatcher as jobs: leases, `client_msg_id`, the
//! account's shared rate, the quota guard and receipts.

pub mod accept;
pub(crate) mod cache;
pub mod keys;
pub(crate) mod queue;
pub mod status;
pub mod webhooks;

pub use accept::API_SEND_RATE;
pub use keys::SEND_KEY_PREFIX;

/// The hash a request body is remembered by for idempotent replays (SHA-256, hex).
pub fn body_hash(body: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(body))
}
