//! One module per page.

pub mod api_message;
pub mod api_messages;
pub mod audit;
pub mod dashboard;
pub mod followers;
pub mod job;
pub mod job_schedule;
pub mod jobs;
pub mod login;
pub mod new_job;
pub mod new_job_recurring;
pub mod new_job_sheet;
pub mod not_found;
pub mod preset_editor;
pub mod schedules;
pub mod settings;
pub mod setup;
pub mod staff;
pub mod templates;
