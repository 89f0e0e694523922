//! Pieces shared by several pages.

pub mod empty_state;
pub mod lang_switch;
pub mod layout;
