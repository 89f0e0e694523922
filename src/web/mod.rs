//! HTTP middleware and small routes around the Leptos app.

pub mod callback;
pub mod events;
pub mod export;
pub mod guard;
pub mod health;
pub mod metrics;
pub mod mp_api;
pub mod security;
