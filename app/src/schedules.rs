//! Recurring sends (定时任务) as server functions: list, one with its runs, preview a rhythm,
//! create, and pause / resume / delete. Any logged-in staff member may use them (as jobs); each
//! function checks the session itself and only touches the session's Official Account's.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::jobs::JobDto;
use model::schedule::{Rhythm, RhythmText, Schedule, ScheduleAction};
use model::{Channel, RecipientSource};

/// A recurring send with its times in the console time zone (`2026-12-14 10:00`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleDto {
    pub schedule: Schedule,
    pub next_run: String,
    pub last_run: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchedulesDto {
    pub schedules: Vec<ScheduleDto>,
    pub time_zone: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleDetailDto {
    pub item: ScheduleDto,
    /// The jobs its runs created, newest first.
    pub runs: Vec<JobDto>,
    pub time_zone: String,
}

/// A rhythm in words, with its next runs in the console time zone.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RhythmPreviewDto {
    pub summary: RhythmText,
    pub next_runs: Vec<String>,
    /// Those of the next runs that fall in quiet hours.
    pub quiet: Vec<String>,
    pub time_zone: String,
}

/// Runs listed on a schedule's page.
pub const RUNS_SHOWN: i64 = 50;

#[server(prefix = "/api", endpoint = "schedules_page")]
pub async fn schedules_page() -> Result<SchedulesDto, AppError> {
    use crate::auth::ssr::*;
    use crate::followers::ssr::current_oa;
    require_staff().await?;
    let state = state()?;
    let tz = state.engine.time_zone().await.map_err(internal)?;
    let schedules = match current_oa(&state).await? {
        Some(account) => state
            .engine
            .schedules(account.id)
            .await
            .map_err(internal)?
            .into_iter()
            .map(|s| ssr::schedule_dto(s, tz))
            .collect(),
        None => Vec::new(),
    };
    Ok(SchedulesDto {
        schedules,
        time_zone: tz.name().to_owned(),
    })
}

#[server(prefix = "/api", endpoint = "schedule_page")]
pub async fn schedule_page(id: i64) -> Result<ScheduleDetailDto, AppError> {
    use crate::auth::ssr::*;
    require_staff().await?;
    let state = state()?;
    let schedule = ssr::own_schedule(&state, id).await?;
    let tz = state.engine.time_zone().await.map_err(internal)?;
    let runs = state
        .engine
        .schedule_jobs(id, RUNS_SHOWN)
        .await
        .map_err(internal)?
        .into_iter()
        .map(|j| crate::jobs::ssr::job_dto(j, tz))
        .collect();
    Ok(ScheduleDetailDto {
        item: ssr::schedule_dto(schedule, tz),
        runs,
        time_zone: tz.name().to_owned(),
    })
}

/// A rhythm in words and its next runs (and which fall in quiet hours); saves nothing.
#[server(prefix = "/api", endpoint = "preview_rhythm", input = server_fn::codec::Json)]
pub async fn preview_rhythm(rhythm: Rhythm) -> Result<RhythmPreviewDto, AppError> {
    use crate::auth::ssr::*;
    use crate::followers::ssr::current_oa;
    require_staff().await?;
    let state = state()?;
    let Some(account) = current_oa(&state).await? else {
        return fail(AppError::NotFound);
    };
    let tz = state.engine.time_zone().await.map_err(internal)?;
    let preview = state
        .engine
        .preview_rhythm(&account, &rhythm)
        .await
        .or_else(|e| fail(from_engine(e)))?;
    let local = |ms: &i64| ssr::local(*ms, tz);
    Ok(RhythmPreviewDto {
        summary: preview.summary,
        next_runs: preview.next_runs.iter().map(local).collect(),
        quiet: preview.quiet.iter().map(local).collect(),
        time_zone: preview.time_zone,
    })
}

/// Creates a recurring send of the session's Official Account; returns its id. `preset_id` and
/// `mp_preset_id` are 0 when the channel needs none.
#[server(prefix = "/api", endpoint = "create_schedule", input = server_fn::codec::Json)]
pub async fn create_schedule(
    name: String,
    channel: Channel,
    preset_id: i64,
    mp_preset_id: i64,
    source: RecipientSource,
    rhythm: Rhythm,
    rate_limit: i64,
) -> Result<i64, AppError> {
    use crate::auth::ssr::*;
    use crate::followers::ssr::current_oa;
    let staff = require_staff().await?;
    let state = state()?;
    let Some(account) = current_oa(&state).await? else {
        return fail(AppError::NotFound);
    };
    let new = engine::schedules::NewSchedule {
        name,
        channel,
        preset_id: (preset_id > 0).then_some(preset_id),
        mp_preset_id: (mp_preset_id > 0).then_some(mp_preset_id),
        source,
        rhythm,
        rate_limit,
    };
    let actor = actor(&staff, &state);
    state
        .engine
        .create_schedule(&actor, &account, &new)
        .await
        .map(|s| s.id)
        .or_else(|e| fail(from_engine(e)))
}

#[server(prefix = "/api", endpoint = "control_schedule")]
pub async fn control_schedule(id: i64, action: ScheduleAction) -> Result<(), AppError> {
    use crate::auth::ssr::*;
    let staff = require_staff().await?;
    let state = state()?;
    ssr::own_schedule(&state, id).await?;
    let actor = actor(&staff, &state);
    state
        .engine
        .control_schedule(&actor, id, action)
        .await
        .map(|_| ())
        .or_else(|e| fail(from_engine(e)))
}

#[cfg(feature = "ssr")]
pub mod ssr {
    //! Recurring sends as the browser sees them, and the session's ownership of one.

    use model::schedule::Schedule;

    use super::ScheduleDto;
    use crate::auth::ssr::{fail, internal};
    use crate::error::AppError;
    use crate::state::AppState;

    /// Refuses a recurring send of another Official Account than the session's.
    pub async fn own_schedule(state: &AppState, id: i64) -> Result<Schedule, AppError> {
        let account = crate::followers::ssr::current_oa(state).await?;
        match state.engine.schedule(id).await.map_err(internal)? {
            Some(s) if account.is_some_and(|a| a.id == s.account_id) => Ok(s),
            _ => fail(AppError::NotFound),
        }
    }

    /// `ms` in the console time zone as people read it (`2026-12-14 10:00`).
    pub fn local(ms: i64, tz: engine::Tz) -> String {
        engine::jobs::schedule::format_local_time(ms, tz).replace('T', " ")
    }

    pub fn schedule_dto(schedule: Schedule, tz: engine::Tz) -> ScheduleDto {
        ScheduleDto {
            next_run: local(schedule.next_run_ms, tz),
            last_run: schedule.last_run_ms.map(|ms| local(ms, tz)),
            schedule,
        }
    }
}
