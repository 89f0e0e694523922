//! Malformed server-function arguments: which field a request got wrong. A server function's
//! arguments are decoded before its body runs, and the decoder's error does not say which
//! field failed; decoding the request again with a path-tracking deserializer does.

use serde::de::DeserializeOwned;
use server_fn::ServerFn;

/// The body of a server-function request, kept by the server for [`malformed_field`].
#[derive(Clone, Debug)]
pub struct RequestBody(pub bytes::Bytes);

/// Decodes `body` as `T`'s arguments (a form, or JSON for the functions with nested arguments)
/// and names the first field that fails.
fn failing_field<T: DeserializeOwned>(body: &[u8]) -> Option<String> {
    let result = if body.trim_ascii_start().starts_with(b"{") {
        let mut de = serde_json::Deserializer::from_slice(body);
        serde_path_to_error::deserialize::<_, T>(&mut de).map_err(|e| {
            let path = e.path().to_string();
            (path, e.into_inner().to_string())
        })
    } else {
        let config = serde_qs::Config::new(5, false);
        let de = serde_qs::Deserializer::with_config(&config, body).ok()?;
        serde_path_to_error::deserialize::<_, T>(de).map_err(|e| {
            let path = e.path().to_string();
            (path, e.into_inner().to_string())
        })
    };
    match result {
        Ok(_) => None,
        // A missing argument fails at the top ("."); serde names it in the message.
        Err((path, message)) if path == "." || path.is_empty() => missing_field(&message),
        Err((path, _)) => Some(path),
    }
}

/// `missing field `id`` → `id`.
pub fn missing_field(message: &str) -> Option<String> {
    let rest = message.split("missing field `").nth(1)?;
    rest.split('`').next().map(str::to_owned)
}

macro_rules! server_fns {
    ($($t:ty),* $(,)?) => {
        /// The field of server function `path` that `body` gets wrong, if it can be told.
        pub fn malformed_field(path: &str, body: &[u8]) -> Option<String> {
            $(
                if path == <$t as ServerFn>::PATH {
                    return failing_field::<$t>(body);
                }
            )*
            None
        }

        /// Every server function's path (the authorization sweep checks it is complete).
        pub fn known_paths() -> Vec<&'static str> {
            vec![$(<$t as ServerFn>::PATH),*]
        }
    };
}

server_fns!(
    crate::accounts::AccountChoice,
    crate::accounts::CreateAccount,
    crate::accounts::DeleteAccount,
    crate::accounts::ListAccounts,
    crate::accounts::SelectAccount,
    crate::accounts::TestAccountConnection,
    crate::audit::ListAudit,
    crate::auth::Login,
    crate::auth::Logout,
    crate::auth::SetLanguage,
    crate::auth::SetupAdmin,
    crate::auth::SetupStatus,
    crate::followers::CancelFollowerSync,
    crate::followers::CountFollowers,
    crate::followers::Dashboard,
    crate::followers::ListFollowers,
    crate::followers::StartFollowerSync,
    crate::followers::SyncStatus,
    crate::instances::ListInstances,
    crate::jobs::ApprovalThreshold,
    crate::jobs::ControlJob,
    crate::jobs::CreateJob,
    crate::jobs::JobProgress,
    crate::jobs::JobRecipients,
    crate::jobs::ListJobs,
    crate::jobs::NewJobFromFailures,
    crate::jobs::PlanJob,
    crate::jobs::RescheduleJob,
    crate::jobs::ReviewSheet,
    crate::jobs::SetApprovalThreshold,
    crate::jobs::SheetSummary,
    crate::mp::CreateMpApiKey,
    crate::mp::ImportMpUsers,
    crate::mp::ListMpApiKeys,
    crate::mp::RevokeMpApiKey,
    crate::profile::MyTestOpenids,
    crate::profile::SetMyTestOpenid,
    crate::schedules::ControlSchedule,
    crate::schedules::CreateSchedule,
    crate::schedules::PreviewRhythm,
    crate::schedules::SchedulePage,
    crate::schedules::SchedulesPage,
    crate::send_api::ApiMessages,
    crate::send_api::CreateSendKey,
    crate::send_api::ListSendKeys,
    crate::send_api::LoadApiMessage,
    crate::send_api::RevokeSendKey,
    crate::send_api::SetSendKeyWebhook,
    crate::send_rules::LoadSendRules,
    crate::send_rules::SaveSendRules,
    crate::send_rules::SetConsoleTimeZone,
    crate::staff::AddStaff,
    crate::staff::ChangeMyPassword,
    crate::staff::ChangeStaffRole,
    crate::staff::ListStaffMembers,
    crate::staff::ResetStaffPassword,
    crate::staff::SetStaffDisabled,
    crate::templates::DeletePreset,
    crate::templates::DuplicatePreset,
    crate::templates::PresetEditor,
    crate::templates::SavePreset,
    crate::templates::SyncTemplates,
    crate::templates::TemplatesPage,
    crate::templates::TestSendPreset,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_failing_field() {
        assert_eq!(
            malformed_field("/api/delete_account", b"id=abc").as_deref(),
            Some("id")
        );
        assert_eq!(
            malformed_field("/api/delete_account", b"").as_deref(),
            Some("id")
        );
        assert_eq!(
            malformed_field("/api/set_staff_disabled", b"id=1&disabled=maybe").as_deref(),
            Some("disabled")
        );
        assert_eq!(
            malformed_field("/api/import_mp_users", b"account_id=1&csv=x&first_line=-3").as_deref(),
            Some("first_line")
        );
        assert_eq!(
            malformed_field("/api/delete_account", b"id=12&confirm=wx").as_deref(),
            None
        );
        assert_eq!(
            malformed_field("/api/list_followers", b"filter[matched]=maybe&after=").as_deref(),
            Some("filter.matched")
        );
        assert_eq!(
            malformed_field(
                "/api/plan_job",
                br#"{"source":{"Tag":"vip"},"channel":"best","mp_preset_id":0}"#
            )
            .as_deref(),
            Some("source.Tag")
        );
        assert_eq!(
            malformed_field("/api/plan_job", br#"{"channel":"best","mp_preset_id":0}"#).as_deref(),
            Some("source")
        );
    }

    /// Typed arguments (a filter, a recipient source) travel as the browser encodes them and
    /// come back equal on the server.
    fn round_trip<T: serde::Serialize + DeserializeOwned>(args: T) {
        let body = serde_qs::to_string(&args).unwrap();
        let config = serde_qs::Config::new(5, false);
        let back: T = config
            .deserialize_str(&body)
            .unwrap_or_else(|e| panic!("{body}: {e}"));
        assert_eq!(serde_qs::to_string(&back).unwrap(), body);
        assert_eq!(failing_field::<T>(body.as_bytes()), None, "{body}");
    }

    #[test]
    fn typed_arguments_round_trip() {
        use model::{FollowerFilter, RecipientSource};
        let filter = FollowerFilter {
            search: "张 & =".into(),
            subscribed: Some(true),
            has_unionid: Some(false),
            matched: None,
            tag: Some(7),
        };
        round_trip(crate::followers::ListFollowers {
            filter: filter.clone(),
            after: "o_next".into(),
        });
        for source in [
            RecipientSource::Openids(vec!["o_1".into(), "o_2".into()]),
            RecipientSource::Openids(vec![]),
            RecipientSource::Filter(filter),
            RecipientSource::Filter(FollowerFilter::default()),
            RecipientSource::AllSubscribed,
            RecipientSource::Matched,
            RecipientSource::Tag(100),
            RecipientSource::CsvOpenids("openid\no_1\n".into()),
            RecipientSource::MpUsers,
            RecipientSource::Sheet(12),
        ] {
            let args = crate::jobs::PlanJob {
                source,
                channel: model::Channel::Best,
                mp_preset_id: 0,
            };
            let body = serde_json::to_vec(&args).unwrap();
            let back: crate::jobs::PlanJob = serde_json::from_slice(&body).unwrap();
            assert_eq!(serde_json::to_vec(&back).unwrap(), body);
            assert_eq!(failing_field::<crate::jobs::PlanJob>(&body), None);
        }
    }
}
