//! The WeChat client: knows WeChat, nothing of the database.

pub mod callback;
