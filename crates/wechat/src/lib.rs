//! The WeChat client: knows WeChat, nothing of the database.

pub mod api;
pub mod callback;

pub use api::{ApiError, Client, ErrorClass};
