//! The console time zone and the current Official Account's quiet hours and per-person daily
//! cap, as server functions for admins (each checks the role itself; the engine audits).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// What the settings form shows.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendRulesDto {
    /// The Official Account the rules belong to (the top-bar switcher's); `None`: no account.
    pub account_name: Option<String>,
    pub time_zone: String,
    pub quiet_on: bool,
    /// `HH:MM` (22:00 when off, as a starting point).
    pub quiet_start: String,
    pub quiet_end: String,
    pub cap_on: bool,
    /// The cap, or an empty text when off.
    pub daily_cap: String,
}

#[server(prefix = "/api", endpoint = "load_send_rules")]
pub async fn load_send_rules() -> Result<SendRulesDto, AppError> {
    use crate::auth::ssr::*;
    use crate::followers::ssr::current_oa;
    use model::send_rules::format_hhmm;
    require_admin().await?;
    let state = state()?;
    let time_zone = state
        .engine
        .time_zone()
        .await
        .map_err(internal)?
        .name()
        .to_owned();
    let Some(account) = current_oa(&state).await? else {
        return Ok(SendRulesDto {
            time_zone,
            ..SendRulesDto::default()
        });
    };
    let rules = state
        .engine
        .send_rules(account.id)
        .await
        .map_err(internal)?;
    let (start, end) = rules
        .quiet_hours
        .map_or((22 * 60, 8 * 60), |q| (q.start_min, q.end_min));
    Ok(SendRulesDto {
        account_name: Some(account.name),
        time_zone,
        quiet_on: rules.quiet_hours.is_some(),
        quiet_start: format_hhmm(start),
        quiet_end: format_hhmm(end),
        cap_on: rules.daily_cap.is_some(),
        daily_cap: rules.daily_cap.map(|n| n.to_string()).unwrap_or_default(),
    })
}

/// Admins only: the console time zone (an IANA name).
#[server(prefix = "/api", endpoint = "set_console_time_zone")]
pub async fn set_console_time_zone(time_zone: String) -> Result<(), AppError> {
    use crate::auth::ssr::*;
    let staff = require_admin().await?;
    let state = state()?;
    let actor = actor(&staff, &state);
    state
        .engine
        .set_time_zone(&actor, &time_zone)
        .await
        .or_else(|e| fail(from_engine(e)))
}

/// Admins only: the current Official Account's quiet hours (`HH:MM`, ignored when off) and
/// daily cap (ignored when off).
#[server(prefix = "/api", endpoint = "save_send_rules")]
pub async fn save_send_rules(
    quiet_on: bool,
    quiet_start: String,
    quiet_end: String,
    cap_on: bool,
    daily_cap: String,
) -> Result<(), AppError> {
    use crate::auth::ssr::*;
    use crate::followers::ssr::current_oa;
    use model::send_rules::{QuietHours, SendRules};
    let staff = require_admin().await?;
    let state = state()?;
    let Some(account) = current_oa(&state).await? else {
        return fail(AppError::NotFound);
    };
    let refused =
        |field: &str, p: model::Problem| fail(AppError::Refused(model::Refusal::new(field, p)));
    let quiet_hours = if quiet_on {
        match QuietHours::parse(&quiet_start, &quiet_end) {
            Ok(q) => Some(q),
            Err((field, p)) => return refused(field, p),
        }
    } else {
        None
    };
    let daily_cap = if cap_on {
        match daily_cap.trim().parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => return refused("daily_cap", model::Problem::Malformed),
        }
    } else {
        None
    };
    let actor = actor(&staff, &state);
    state
        .engine
        .set_send_rules(
            &actor,
            &account,
            SendRules {
                quiet_hours,
                daily_cap,
            },
        )
        .await
        .or_else(|e| fail(from_engine(e)))
}
