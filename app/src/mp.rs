//! Mini Program administration as server functions (admins only): the backend's API keys and the CSV import of MP users.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::i18n::Lang;

/// The largest CSV one import accepts (the engine's limit).
pub const MAX_IMPORT_BYTES: usize = 20 * 1024 * 1024;
/// The most data rows one import accepts (the engine's limit).
pub const MAX_IMPORT_ROWS: usize = 200_000;
#[cfg(feature = "ssr")]
const _: () = assert!(
    MAX_IMPORT_BYTES == engine::followers::mp_users::MAX_IMPORT_BYTES
        && MAX_IMPORT_ROWS == engine::followers::mp_users::MAX_IMPORT_ROWS
);

/// An API key as the settings page shows it: its first characters, never the key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MpApiKeyDto {
    pub id: i64,
    pub prefix: String,
    pub created_by: String,
    pub created_at_ms: i64,
    pub revoked_at_ms: Option<i64>,
}

/// A Mini Program's keys and the URL its backend calls.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MpKeys {
    pub account_id: i64,
    /// The Mini Program's name.
    pub name: String,
    pub endpoint: String,
    pub keys: Vec<MpApiKeyDto>,
}

/// A key just created: `key` is shown once and never again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewMpApiKey {
    /// The Mini Program it is for.
    pub account_id: i64,
    pub key: String,
    pub info: MpApiKeyDto,
}

/// What is wrong with one line of an import.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ImportProblem {
    Columns { found: usize },
    MissingOpenid,
    Openid { value: String },
    Unionid { value: String },
    Duplicate { first_line: usize },
}

impl ImportProblem {
    pub fn message(&self, lang: Lang) -> String {
        match (self, lang) {
            (ImportProblem::Columns { found }, Lang::Zh) => {
                format!("应为 openid 或 openid,unionid 两列，实际 {found} 列")
            }
            (ImportProblem::Columns { found }, Lang::En) => {
                format!("expected openid or openid,unionid (2 columns), found {found}")
            }
            (ImportProblem::MissingOpenid, Lang::Zh) => "缺少 openid".into(),
            (ImportProblem::MissingOpenid, Lang::En) => "the openid is missing".into(),
            (ImportProblem::Openid { value }, Lang::Zh) => {
                format!("openid「{value}」格式错误：应为 20–64 位字母、数字、- 或 _")
            }
            (ImportProblem::Openid { value }, Lang::En) => {
                format!("openid \"{value}\" is not 20–64 letters, digits, '-' or '_'")
            }
            (ImportProblem::Unionid { value }, Lang::Zh) => {
                format!("unionid「{value}」格式错误：应为 20–64 位字母、数字、- 或 _，或留空")
            }
            (ImportProblem::Unionid { value }, Lang::En) => {
                format!("unionid \"{value}\" is not 20–64 letters, digits, '-' or '_' (or empty)")
            }
            (ImportProblem::Duplicate { first_line }, Lang::Zh) => {
                format!("与第 {first_line} 行的 openid 重复")
            }
            (ImportProblem::Duplicate { first_line }, Lang::En) => {
                format!("duplicates the openid on line {first_line}")
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportLineError {
    /// 1-based, as an editor numbers the file's lines.
    pub line: usize,
    pub problem: ImportProblem,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportReportDto {
    pub inserted: u64,
    pub updated: u64,
    /// All rejected lines; `errors` lists the first of them (up to 1,000 per request).
    pub error_count: usize,
    pub errors: Vec<ImportLineError>,
}

impl ImportReportDto {
    /// Adds the report of the next piece of the same file.
    pub fn merge(&mut self, other: ImportReportDto) {
        self.inserted += other.inserted;
        self.updated += other.updated;
        self.error_count += other.error_count;
        self.errors.extend(other.errors);
    }

    /// Errors in line order, at most [`MAX_SHOWN_ERRORS`] of them.
    pub fn finish(mut self) -> Self {
        self.errors.sort_by_key(|e| e.line);
        self.errors.truncate(MAX_SHOWN_ERRORS);
        self
    }
}

/// Line errors the page lists at most.
pub const MAX_SHOWN_ERRORS: usize = 1000;

/// An import's outcome: a too-large file is refused whole (a typed outcome, not an error, so the
/// form can explain the limits).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ImportOutcome {
    Imported(ImportReportDto),
    TooLarge { max_bytes: usize, max_rows: usize },
}

#[server(prefix = "/api", endpoint = "create_mp_api_key")]
pub async fn create_mp_api_key(account_id: i64) -> Result<NewMpApiKey, AppError> {
    use crate::auth::ssr::*;
    let admin = require_admin().await?;
    let state = state()?;
    let actor = actor(&admin, &state);
    match state.engine.create_mp_api_key(&actor, account_id).await {
        Ok((key, info)) => Ok(NewMpApiKey {
            account_id,
            key,
            info: ssr::key_dto(info),
        }),
        Err(e) => fail(from_engine(e)),
    }
}

/// Every Mini Program's keys, in one call: the settings page loads them with one resource made
/// at the top of the page (a resource made inside another's Suspend body is numbered
/// differently on the server, which renders that body several times, and in the browser).
#[server(prefix = "/api", endpoint = "list_mp_api_keys")]
pub async fn list_mp_api_keys() -> Result<Vec<MpKeys>, AppError> {
    use crate::auth::ssr::*;
    require_admin().await?;
    let state = state()?;
    let by_account = state
        .engine
        .mp_api_keys_by_account()
        .await
        .map_err(internal)?;
    Ok(by_account
        .into_iter()
        .map(|(mp, keys)| MpKeys {
            account_id: mp.id,
            endpoint: format!("{}/api/mp/{}/login", state.public_url, mp.appid),
            name: mp.name,
            keys: keys.into_iter().map(ssr::key_dto).collect(),
        })
        .collect())
}

#[server(prefix = "/api", endpoint = "revoke_mp_api_key")]
pub async fn revoke_mp_api_key(key_id: i64) -> Result<(), AppError> {
    use crate::auth::ssr::*;
    let admin = require_admin().await?;
    let state = state()?;
    let actor = actor(&admin, &state);
    state
        .engine
        .revoke_mp_api_key(&actor, key_id)
        .await
        .or_else(|e| fail(from_engine(e)))
}

/// Imports `openid[,unionid]` lines. The page sends a large file in pieces, each with the line
/// number it starts on (`first_line`, 1 when absent) so errors keep the file's numbering.
#[server(prefix = "/api", endpoint = "import_mp_users")]
pub async fn import_mp_users(
    account_id: i64,
    csv: String,
    first_line: Option<usize>,
) -> Result<ImportOutcome, AppError> {
    use crate::auth::ssr::*;
    let admin = require_admin().await?;
    let state = state()?;
    let too_large = ImportOutcome::TooLarge {
        max_bytes: MAX_IMPORT_BYTES,
        max_rows: MAX_IMPORT_ROWS,
    };
    if csv.len() > MAX_IMPORT_BYTES {
        return Ok(too_large);
    }
    let actor = actor(&admin, &state);
    match state
        .engine
        .import_mp_users_csv_from(&actor, account_id, &csv, first_line.unwrap_or(1))
        .await
    {
        Ok(report) => Ok(ImportOutcome::Imported(ssr::report_dto(report))),
        Err(engine::Error::Refused(r)) if r.field == "csv" => Ok(too_large),
        Err(e) => fail(from_engine(e)),
    }
}

#[cfg(feature = "ssr")]
mod ssr {
    //! Engine types to what the browser may see.

    use engine::followers::mp_users::{ImportReport, MpApiKey};

    use super::{ImportLineError, ImportProblem, ImportReportDto, MpApiKeyDto};

    pub fn key_dto(k: MpApiKey) -> MpApiKeyDto {
        MpApiKeyDto {
            id: k.id,
            prefix: k.prefix,
            created_by: k.created_by,
            created_at_ms: k.created_at_ms,
            revoked_at_ms: k.revoked_at_ms,
        }
    }

    pub fn report_dto(r: ImportReport) -> ImportReportDto {
        use engine::followers::mp_users::ImportProblem as P;
        ImportReportDto {
            inserted: r.inserted,
            updated: r.updated,
            error_count: r.error_count,
            errors: r
                .errors
                .into_iter()
                .map(|e| ImportLineError {
                    line: e.line,
                    problem: match e.problem {
                        P::Columns { found } => ImportProblem::Columns { found },
                        P::MissingOpenid => ImportProblem::MissingOpenid,
                        P::Openid { value } => ImportProblem::Openid { value },
                        P::Unionid { value } => ImportProblem::Unionid { value },
                        P::Duplicate { first_line } => ImportProblem::Duplicate { first_line },
                    },
                })
                .collect(),
        }
    }
}

/// One CSV field as the engine reads it: blanks and one pair of double quotes removed.
fn csv_field(raw: &str) -> &str {
    let t = raw.trim();
    t.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .map_or(t, str::trim)
}

/// The openid of a line the engine would accept as a row.
fn valid_row_openid(line: &str) -> Option<&str> {
    let mut fields: Vec<&str> = line.split(',').map(csv_field).collect();
    while fields.len() > 2 && fields.last().is_some_and(|f| f.is_empty()) {
        fields.pop();
    }
    let openid = fields.first().copied()?;
    let unionid = fields.get(1).copied().unwrap_or("");
    (fields.len() <= 2
        && model::openid::is_openid(openid)
        && (unionid.is_empty() || model::openid::is_openid(unionid)))
    .then_some(openid)
}

/// A file ready to be sent in pieces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upload {
    /// Each piece with the number of its first line.
    pub pieces: Vec<(usize, String)>,
    /// Repeated openids, found over the whole file (the server only sees one piece at a time);
    /// their lines are sent blank so the numbering stays.
    pub duplicates: Vec<ImportLineError>,
}

/// Prepares `text` for upload in pieces of at most `max_bytes`.
pub fn prepare_upload(text: &str, max_bytes: usize) -> Upload {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut seen = std::collections::HashMap::new();
    let mut duplicates = Vec::new();
    let mut kept = String::with_capacity(text.len());
    for (i, raw) in text.split('\n').enumerate() {
        let line = i + 1;
        if let Some(openid) = valid_row_openid(raw.strip_suffix('\r').unwrap_or(raw)) {
            if let Some(&first_line) = seen.get(openid) {
                duplicates.push(ImportLineError {
                    line,
                    problem: ImportProblem::Duplicate { first_line },
                });
                kept.push('\n');
                continue;
            }
            seen.insert(openid, line);
        }
        kept.push_str(raw);
        kept.push('\n');
    }
    Upload {
        pieces: split_for_upload(&kept, max_bytes),
        duplicates,
    }
}

/// Splits a file into pieces of at most `max_bytes` at line boundaries, each with the number of
/// its first line. A single line longer than that is cut (it cannot be a valid row anyway).
fn split_for_upload(text: &str, max_bytes: usize) -> Vec<(usize, String)> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    let mut current_first = 1;
    for (i, line) in text.split('\n').enumerate() {
        let line = match line.char_indices().nth(200) {
            Some((cut, _)) if line.len() > max_bytes / 2 => &line[..cut],
            _ => line,
        };
        if !current.is_empty() && current.len() + line.len() + 1 > max_bytes {
            pieces.push((current_first, std::mem::take(&mut current)));
        }
        if current.is_empty() {
            current_first = i + 1;
        }
        current.push_str(line);
        current.push('\n');
    }
    if !current.trim().is_empty() {
        pieces.push((current_first, current));
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_keep_line_numbers() {
        let text = "a\nbb\nccc\ndddd\n";
        let pieces = split_for_upload(text, 8);
        assert_eq!(
            pieces,
            vec![
                (1, "a\nbb\n".to_owned()),
                (3, "ccc\n".to_owned()),
                (4, "dddd\n\n".to_owned()),
            ]
        );
        let long = format!("x\n{}\ny\n", "z".repeat(1000));
        let pieces = split_for_upload(&long, 100);
        assert_eq!(pieces[1].0, 2);
        assert!(pieces[1].1.len() <= 202);
        assert_eq!(pieces.last().map(|p| p.0), Some(3));
    }

    #[test]
    fn duplicates_are_found_across_pieces() {
        let a = "oAbCdEfGhIjKlMnOpQrStUvWxYz0";
        let b = "oAbCdEfGhIjKlMnOpQrStUvWxYz1";
        let text = format!("\u{feff}openid,unionid\n{a}\n{b},\nbad\nbad\n\"{a}\",{b}\n{b}\r\n");
        let upload = prepare_upload(&text, 40);
        assert_eq!(
            upload.duplicates,
            vec![
                ImportLineError {
                    line: 6,
                    problem: ImportProblem::Duplicate { first_line: 2 }
                },
                ImportLineError {
                    line: 7,
                    problem: ImportProblem::Duplicate { first_line: 3 }
                },
            ]
        );
        assert!(upload.pieces.len() > 2);
        let sent: String = upload.pieces.iter().map(|(_, p)| p.as_str()).collect();
        assert_eq!(sent.lines().count(), 7, "{sent:?}");
        assert_eq!(
            sent.lines().nth(3),
            Some("bad"),
            "invalid lines go to the server"
        );
        assert_eq!(sent.lines().nth(5), Some(""), "duplicates are blanked");
        for (first, piece) in &upload.pieces {
            assert_eq!(
                sent.lines().nth(first - 1),
                piece.lines().next(),
                "a piece's first line number is right"
            );
        }
    }

    #[test]
    fn reports_merge_in_line_order() {
        let err = |line| ImportLineError {
            line,
            problem: ImportProblem::MissingOpenid,
        };
        let mut a = ImportReportDto {
            inserted: 1,
            updated: 2,
            error_count: 1,
            errors: vec![err(90)],
        };
        a.merge(ImportReportDto {
            inserted: 10,
            updated: 0,
            error_count: 1,
            errors: vec![err(3)],
        });
        let a = a.finish();
        assert_eq!((a.inserted, a.updated, a.error_count), (11, 2, 2));
        assert_eq!(
            a.errors.iter().map(|e| e.line).collect::<Vec<_>>(),
            vec![3, 90]
        );
    }
}
