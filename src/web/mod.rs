//! HTTP middleware and small routes around the Leptos app.

pub mod guard;
pub mod health;
pub mod security;
