//! Pieces shared by several pages.

pub mod account_form;
pub mod account_switcher;
pub mod api_chart;
pub mod empty_state;
pub mod file_text;
pub mod lang_switch;
pub mod layout;
pub mod message_preview;
pub mod mp_keys;
pub mod new_key;
pub mod send_keys;
pub mod send_rules;
pub mod sync_panel;
pub mod test_openids;
