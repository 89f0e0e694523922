//! Mini Program users (from `jscode2session` logins and CSV imports) and the API keys the Mini Program backend authenticates with.

use crate::audit::AuditAction;
use model::openid::is_openid;
use std::collections::HashMap;

use sha2::{Digest, Sha256};

use crate::accounts::{Account, AccountKind};
use crate::audit::{Actor, RecordAudit};
use crate::db::BeginWrite;
use crate::followers::stats::MpCounts;
use crate::{now_ms, on_db, Engine, Error, Result};
use model::Problem;

/// Every API key starts with this, so a leaked one is recognisable in logs and code scanners.
pub const API_KEY_PREFIX: &str = "wxp_";
/// `wxp_` + 64 hex digits (32 random bytes).
const API_KEY_LEN: usize = API_KEY_PREFIX.len() + 64;
/// How many leading characters of a key are stored in clear to tell keys apart.
pub const API_KEY_SHOWN: usize = 12;
/// The largest CSV accepted in one import.
pub const MAX_IMPORT_BYTES: usize = 20 * 1024 * 1024;
/// The most data rows accepted in one import.
pub const MAX_IMPORT_ROWS: usize = 200_000;
/// Line errors kept in a report (the count is always exact).
pub const MAX_REPORTED_ERRORS: usize = 1000;
/// Rows upserted per transaction (2 bound values each: far below both databases' limits).
const IMPORT_BATCH: usize = 500;

/// An API key as admins see it: never the key, only its first characters.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct MpApiKey {
    pub id: i64,
    pub account_id: i64,
    pub prefix: String,
    pub created_by: String,
    pub created_at_ms: i64,
    pub revoked_at_ms: Option<i64>,
}

/// A Mini Program as its key list names it.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct MpKeyOwner {
    pub id: i64,
    pub name: String,
    pub appid: String,
}

/// Who logged in. The session key WeChat also returns is dropped on purpose.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MpLogin {
    pub openid: String,
    pub unionid: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct MpUser {
    pub account_id: i64,
    pub openid: String,
    pub unionid: Option<String>,
    /// `login` or `import`: how the user became known (a login confirms an imported user).
    pub source: String,
    pub first_seen_ms: i64,
    pub last_login_ms: Option<i64>,
}

/// What is wrong with one CSV line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImportProblem {
    /// More than two non-empty columns.
    Columns {
        found: usize,
    },
    MissingOpenid,
    /// Not 20–64 characters of `A-Z a-z 0-9 - _` (the value, cut to 40 characters).
    Openid {
        value: String,
    },
    Unionid {
        value: String,
    },
    /// The same openid already appeared on `first_line`.
    Duplicate {
        first_line: usize,
    },
}

impl ImportProblem {
    fn message(&self) -> String {
        match self {
            ImportProblem::Columns { found } => {
                format!("expected openid[,unionid] (1 or 2 columns), found {found} columns")
            }
            ImportProblem::MissingOpenid => "the openid is missing".into(),
            ImportProblem::Openid { value } => {
                format!("openid \"{value}\" is not 20–64 letters, digits, '-' or '_'")
            }
            ImportProblem::Unionid { value } => {
                format!("unionid \"{value}\" is not 20–64 letters, digits, '-' or '_'")
            }
            ImportProblem::Duplicate { first_line } => {
                format!("this openid already appears on line {first_line}")
            }
        }
    }
}

/// A rejected line, numbered from 1 as an editor shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportError {
    pub line: usize,
    pub problem: ImportProblem,
    /// The problem in English (the console localises `problem` itself).
    pub message: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Users not known before.
    pub inserted: u64,
    /// Users already known (an imported unionid fills in or corrects one not given by a login).
    pub updated: u64,
    /// Every rejected line; `errors` holds the first [`MAX_REPORTED_ERRORS`] of them.
    pub error_count: usize,
    pub errors: Vec<ImportError>,
}

/// A valid row of an import file.
#[derive(Clone, Debug, PartialEq, Eq)]
struct ImportRow {
    openid: String,
    unionid: Option<String>,
}

/// SHA-256 of a presented key, lowercase hex: what `mp_api_keys.key_hash` holds.
pub fn hash_api_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

fn shorten(value: &str) -> String {
    match value.char_indices().nth(40) {
        Some((i, _)) => format!("{}…", &value[..i]),
        None => value.to_owned(),
    }
}

/// One CSV field: surrounding blanks and one pair of double quotes removed.
fn field(raw: &str) -> &str {
    let t = raw.trim();
    t.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .map_or(t, str::trim)
}

/// Splits `csv` into valid rows and numbered errors. Line numbers start at `first_line` (a file
/// sent in pieces keeps its numbering); a header is recognised only on a file's first line.
fn parse_import(csv: &str, first_line: usize) -> Result<(Vec<ImportRow>, Vec<ImportError>, usize)> {
    if csv.len() > MAX_IMPORT_BYTES {
        return Err(Error::refused("csv", Problem::TooLarge(MAX_IMPORT_BYTES)));
    }
    let csv = csv.strip_prefix('\u{feff}').unwrap_or(csv);
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    let mut error_count = 0;
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut data_lines = 0usize;
    let mut first_content = first_line == 1;
    for (i, raw) in csv.split('\n').enumerate() {
        // `first_line` comes from the browser: never overflow (fuzz finding).
        let line = first_line.saturating_add(i);
        let text = raw.strip_suffix('\r').unwrap_or(raw);
        if text.trim().is_empty() {
            continue;
        }
        let mut fields: Vec<&str> = text.split(',').map(field).collect();
        while fields.len() > 2 && fields.last().is_some_and(|f| f.is_empty()) {
            fields.pop();
        }
        let openid = fields.first().copied().unwrap_or_default();
        if std::mem::take(&mut first_content) && openid.eq_ignore_ascii_case("openid") {
            continue;
        }
        data_lines += 1;
        if data_lines > MAX_IMPORT_ROWS {
            return Err(Error::refused("csv", Problem::TooManyRows(MAX_IMPORT_ROWS)));
        }
        let unionid = fields.get(1).copied().unwrap_or("");
        let problem = if fields.len() > 2 {
            Some(ImportProblem::Columns {
                found: fields.len(),
            })
        } else if openid.is_empty() {
            Some(ImportProblem::MissingOpenid)
        } else if !is_openid(openid) {
            Some(ImportProblem::Openid {
                value: shorten(openid),
            })
        } else if !unionid.is_empty() && !is_openid(unionid) {
            Some(ImportProblem::Unionid {
                value: shorten(unionid),
            })
        } else {
            seen.get(openid)
                .map(|&first_line| ImportProblem::Duplicate { first_line })
        };
        match problem {
            Some(problem) => {
                error_count += 1;
                if errors.len() < MAX_REPORTED_ERRORS {
                    errors.push(ImportError {
                        line,
                        message: problem.message(),
                        problem,
                    });
                }
            }
            None => {
                seen.insert(openid.to_owned(), line);
                rows.push(ImportRow {
                    openid: openid.to_owned(),
                    unionid: (!unionid.is_empty()).then(|| unionid.to_owned()),
                });
            }
        }
    }
    Ok((rows, errors, error_count))
}

/// [`parse_import`] for the fuzz targets in `fuzz/`: the number of valid rows, the line numbers
/// of the errors reported and how many lines were refused; `None` when the whole file is.
#[doc(hidden)]
pub fn fuzz_parse_import(csv: &str, first_line: usize) -> Option<(usize, Vec<usize>, usize)> {
    let (rows, errors, count) = parse_import(csv, first_line).ok()?;
    Some((
        rows.len(),
        errors.into_iter().map(|e| e.line).collect(),
        count,
    ))
}

impl Engine {
    /// The account behind `account_id`, which must be a Mini Program.
    async fn mp_account(&self, account_id: i64) -> Result<Account> {
        let account = self.account(account_id).await?.ok_or(Error::NotFound)?;
        if account.kind != AccountKind::Mp {
            return Err(Error::refused("account_id", Problem::MiniProgramOnly));
        }
        Ok(account)
    }

    /// A new API key for the Mini Program backend: the plaintext (shown once, stored only as a
    /// SHA-256 hash) and what is kept of it.
    pub async fn create_mp_api_key(
        &self,
        actor: &Actor,
        account_id: i64,
    ) -> Result<(String, MpApiKey)> {
        let account = self.mp_account(account_id).await?;
        let key = format!(
            "{API_KEY_PREFIX}{}",
            hex::encode(rand::random::<[u8; 32]>())
        );
        let prefix = key[..API_KEY_SHOWN].to_owned();
        let now = now_ms();
        let insert = "INSERT INTO mp_api_keys (account_id, key_hash, prefix, created_by, \
                      created_at_ms) VALUES ($1, $2, $3, $4, $5) RETURNING id";
        let turn = self.write_gate().await;
        let id: i64 = on_db!(self.db(), |pool| {
            let mut tx = pool.begin().await?;
            let id: i64 = sqlx::query_scalar(insert)
                .bind(account_id)
                .bind(hash_api_key(&key))
                .bind(&prefix)
                .bind(&actor.name)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
            let detail = serde_json::json!({ "key_id": id, "prefix": prefix });
            tx.record_audit(actor, AuditAction::MpApiKeyCreate, &account.appid, &detail)
                .await?;
            tx.commit().await?;
            id
        });
        drop(turn);
        let info = MpApiKey {
            id,
            account_id,
            prefix,
            created_by: actor.name.clone(),
            created_at_ms: now,
            revoked_at_ms: None,
        };
        Ok((key, info))
    }

    /// The keys of one Mini Program, newest first, revoked ones included.
    pub async fn list_mp_api_keys(&self, account_id: i64) -> Result<Vec<MpApiKey>> {
        let keys = on_db!(self.db(), |pool| sqlx::query_as::<_, MpApiKey>(
            "SELECT id, account_id, prefix, created_by, created_at_ms, revoked_at_ms \
             FROM mp_api_keys WHERE account_id = $1 ORDER BY id DESC"
        )
        .bind(account_id)
        .fetch_all(pool)
        .await)?;
        Ok(keys)
    }

    /// Every Mini Program with its keys (newest first, revoked ones included), in the order
    /// [`Engine::accounts`] lists accounts: two queries, no secret decrypted.
    pub async fn mp_api_keys_by_account(&self) -> Result<Vec<(MpKeyOwner, Vec<MpApiKey>)>> {
        let (owners, keys) = on_db!(self.db(), |pool| {
            let owners = sqlx::query_as::<_, MpKeyOwner>(
                "SELECT id, name, appid FROM accounts WHERE kind = 'mp' ORDER BY sandbox, id",
            )
            .fetch_all(pool)
            .await?;
            let keys = sqlx::query_as::<_, MpApiKey>(
                "SELECT k.id, k.account_id, k.prefix, k.created_by, k.created_at_ms, \
                 k.revoked_at_ms FROM mp_api_keys k JOIN accounts a ON a.id = k.account_id \
                 WHERE a.kind = 'mp' ORDER BY k.id DESC",
            )
            .fetch_all(pool)
            .await?;
            Ok::<_, sqlx::Error>((owners, keys))
        })?;
        let mut by_owner: HashMap<i64, Vec<MpApiKey>> = HashMap::new();
        for key in keys {
            by_owner.entry(key.account_id).or_default().push(key);
        }
        Ok(owners
            .into_iter()
            .map(|o| {
                let keys = by_owner.remove(&o.id).unwrap_or_default();
                (o, keys)
            })
            .collect())
    }

    /// Revokes a key for good; revoking it again changes nothing.
    pub async fn revoke_mp_api_key(&self, actor: &Actor, key_id: i64) -> Result<()> {
        let key = on_db!(self.db(), |pool| sqlx::query_as::<_, MpApiKey>(
            "SELECT id, account_id, prefix, created_by, created_at_ms, revoked_at_ms \
             FROM mp_api_keys WHERE id = $1"
        )
        .bind(key_id)
        .fetch_optional(pool)
        .await)?
        .ok_or(Error::NotFound)?;
        if key.revoked_at_ms.is_some() {
            return Ok(());
        }
        let appid = self
            .account(key.account_id)
            .await?
            .map(|a| a.appid)
            .unwrap_or_default();
        let detail = serde_json::json!({ "key_id": key.id, "prefix": key.prefix });
        let _turn = self.write_gate().await;
        on_db!(self.db(), |pool| {
            let mut tx = pool.begin().await?;
            let changed = sqlx::query(
                "UPDATE mp_api_keys SET revoked_at_ms = $1 WHERE id = $2 AND revoked_at_ms IS NULL",
            )
            .bind(now_ms())
            .bind(key_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            // Revoked meanwhile: nothing changed, nothing to record.
            if changed == 0 {
                tx.rollback().await?;
                return Ok(());
            }
            tx.record_audit(actor, AuditAction::MpApiKeyRevoke, &appid, &detail)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// The Mini Program `appid` when `presented` is one of its keys and not revoked.
    /// `NotFound` when `appid` is not a Mini Program here, `InvalidCredentials` for a wrong key.
    pub async fn verify_mp_api_key(&self, appid: &str, presented: &str) -> Result<Account> {
        let account = self
            .account_by_appid(appid)
            .await?
            .filter(|a| a.kind == AccountKind::Mp)
            .ok_or(Error::NotFound)?;
        if presented.len() != API_KEY_LEN || !presented.starts_with(API_KEY_PREFIX) {
            return Err(Error::InvalidCredentials);
        }
        // Hashes are compared by the UNIQUE index: nothing about the key leaks through timing.
        let found: Option<i64> = on_db!(self.db(), |pool| sqlx::query_scalar(
            "SELECT id FROM mp_api_keys \
             WHERE key_hash = $1 AND account_id = $2 AND revoked_at_ms IS NULL"
        )
        .bind(hash_api_key(presented))
        .bind(account.id)
        .fetch_optional(pool)
        .await)?;
        found.map(|_| account).ok_or(Error::InvalidCredentials)
    }

    /// Exchanges a `wx.login` code with WeChat and records the user (`source` becomes `login`).
    /// The session key is neither returned nor stored nor logged.
    pub async fn mp_login(&self, account: &Account, code: &str) -> Result<MpLogin> {
        if account.kind != AccountKind::Mp {
            return Err(Error::refused("account_id", Problem::MiniProgramOnly));
        }
        let session = self
            .wechat()
            .jscode2session(
                &account.api_base,
                &account.appid,
                account.secret.expose(),
                code,
            )
            .await?;
        let login = MpLogin {
            openid: session.openid,
            unionid: session.unionid.filter(|u| !u.is_empty()),
        };
        let now = now_ms();
        let upsert = "INSERT INTO mp_users \
             (account_id, openid, unionid, source, first_seen_ms, last_login_ms) \
             VALUES ($1, $2, $3, 'login', $4, $4) \
             ON CONFLICT (account_id, openid) DO UPDATE SET \
             unionid = COALESCE(excluded.unionid, mp_users.unionid), source = 'login', \
             last_login_ms = excluded.last_login_ms";
        let openids = [login.openid.as_str()];
        let _turn = self.write_gate().await;
        on_db!(self.db(), |pool| {
            // It reads before it writes (see `BeginWrite`).
            let mut tx = pool.begin_write().await?;
            let known: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM mp_users WHERE account_id = $1 AND openid = $2",
            )
            .bind(account.id)
            .bind(&login.openid)
            .fetch_one(&mut *tx)
            .await?;
            let oa = account.linked_account_id;
            let before = match oa {
                Some(oa) => tx.matched_among(oa, account.id, &openids).await?,
                None => 0,
            };
            sqlx::query(upsert)
                .bind(account.id)
                .bind(&login.openid)
                .bind(&login.unionid)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            if let Some(oa) = oa {
                let after = tx.matched_among(oa, account.id, &openids).await?;
                tx.move_mp_counts(oa, 1 - known.min(1), after - before)
                    .await?;
            }
            tx.commit().await
        })?;
        Ok(login)
    }

    pub async fn mp_user(&self, account_id: i64, openid: &str) -> Result<Option<MpUser>> {
        let user = on_db!(self.db(), |pool| sqlx::query_as::<_, MpUser>(
            "SELECT account_id, openid, unionid, source, first_seen_ms, last_login_ms \
             FROM mp_users WHERE account_id = $1 AND openid = $2"
        )
        .bind(account_id)
        .bind(openid)
        .fetch_optional(pool)
        .await)?;
        Ok(user)
    }

    pub async fn count_mp_users(&self, account_id: i64) -> Result<i64> {
        let n = on_db!(self.db(), |pool| sqlx::query_scalar(
            "SELECT COUNT(*) FROM mp_users WHERE account_id = $1"
        )
        .bind(account_id)
        .fetch_one(pool)
        .await)?;
        Ok(n)
    }

    /// Imports `openid[,unionid]` lines (header optional) into a Mini Program's users. Bad lines
    /// are reported with their line numbers; the good ones are stored in batched statements of
    /// one transaction, which also records `mp_users.import`.
    /// A file over [`MAX_IMPORT_BYTES`] or [`MAX_IMPORT_ROWS`] is refused whole
    /// (`Error::Refused` on the field `csv`).
    pub async fn import_mp_users_csv(
        &self,
        actor: &Actor,
        account_id: i64,
        csv: &str,
    ) -> Result<ImportReport> {
        self.import_mp_users_csv_from(actor, account_id, csv, 1)
            .await
    }

    /// [`Engine::import_mp_users_csv`] for a piece of a larger file that starts on `first_line`
    /// (a header is only recognised on line 1; duplicates are found within the piece).
    pub async fn import_mp_users_csv_from(
        &self,
        actor: &Actor,
        account_id: i64,
        csv: &str,
        first_line: usize,
    ) -> Result<ImportReport> {
        let account = self.mp_account(account_id).await?;
        let (rows, errors, error_count) = parse_import(csv, first_line.max(1))?;
        let mut report = ImportReport {
            error_count,
            errors,
            ..ImportReport::default()
        };
        let now = now_ms();
        let _turn = self.write_gate().await;
        on_db!(self.db(), |pool| {
            // It reads before it writes (see `BeginWrite`).
            let mut tx = pool.begin_write().await?;
            let oa = account.linked_account_id;
            for batch in rows.chunks(IMPORT_BATCH) {
                let openids: Vec<&str> = batch.iter().map(|r| r.openid.as_str()).collect();
                let before = match oa {
                    Some(oa) => tx.matched_among(oa, account.id, &openids).await?,
                    None => 0,
                };
                let (select, insert) = import_batch_sql(batch.len());
                let mut count = sqlx::query_scalar(&select).bind(account_id);
                for row in batch {
                    count = count.bind(&row.openid);
                }
                let existing: i64 = count.fetch_one(&mut *tx).await?;
                let mut upsert = sqlx::query(&insert).bind(account_id).bind(now);
                for row in batch {
                    upsert = upsert.bind(&row.openid).bind(&row.unionid);
                }
                upsert.execute(&mut *tx).await?;
                let existing = existing.max(0) as u64;
                let inserted = batch.len() as u64 - existing;
                report.updated += existing;
                report.inserted += inserted;
                if let Some(oa) = oa {
                    let after = tx.matched_among(oa, account.id, &openids).await?;
                    tx.move_mp_counts(oa, inserted as i64, after - before)
                        .await?;
                }
            }
            let detail = serde_json::json!({
                "first_line": first_line,
                "rows": rows.len(),
                "inserted": report.inserted,
                "updated": report.updated,
                "errors": report.error_count,
            });
            tx.record_audit(actor, AuditAction::MpUsersImport, &account.appid, &detail)
                .await?;
            tx.commit().await?;
        });
        Ok(report)
    }
}

/// The statements of one import batch of `n` rows: how many of its openids are known already,
/// and the upsert.
fn import_batch_sql(n: usize) -> (String, String) {
    let in_list = (0..n)
        .map(|i| format!("${}", i + 2))
        .collect::<Vec<_>>()
        .join(", ");
    let select =
        format!("SELECT COUNT(*) FROM mp_users WHERE account_id = $1 AND openid IN ({in_list})");
    let values = (0..n)
        .map(|i| format!("($1, ${}, ${}, 'import', $2)", 2 * i + 3, 2 * i + 4))
        .collect::<Vec<_>>()
        .join(", ");
    // A unionid WeChat gave at login is kept; an imported one can be corrected by a new file.
    let insert = format!(
        "INSERT INTO mp_users (account_id, openid, unionid, source, first_seen_ms) VALUES {values} \
         ON CONFLICT (account_id, openid) DO UPDATE SET unionid = CASE \
         WHEN mp_users.source = 'login' THEN COALESCE(mp_users.unionid, excluded.unionid) \
         ELSE COALESCE(excluded.unionid, mp_users.unionid) END"
    );
    (select, insert)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "oAbCdEfGhIjKlMnOpQrStUvWxYz0";
    const B: &str = "o_bCdEfGhIjKlMnOpQrStUvWxY-1";
    const U: &str = "uAbCdEfGhIjKlMnOpQrStUvWxYz0";

    #[test]
    fn ids_have_the_wechat_shape() {
        assert!(is_openid(A));
        assert!(is_openid(B));
        assert!(!is_openid(&A[..12]));
        assert!(!is_openid("oAbCdEfGhIjKlMnOpQrStUvWxYz!"));
    }

    #[test]
    fn header_bom_quotes_blank_lines_and_crlf() {
        let csv = format!("\u{feff}OpenID,UnionID\r\n\"{A}\",{U}\r\n\r\n {B} ,\r\n");
        let (rows, errors, n) = parse_import(&csv, 1).unwrap();
        assert_eq!(n, 0, "{errors:?}");
        assert_eq!(
            rows,
            vec![
                ImportRow {
                    openid: A.into(),
                    unionid: Some(U.into())
                },
                ImportRow {
                    openid: B.into(),
                    unionid: None
                },
            ]
        );
    }

    #[test]
    fn errors_carry_exact_line_numbers() {
        let csv = format!("{A}\nshort\n{B},bad\n{A},{U}\n,{U}\n{B},{U},x\n{B},{U},,\n");
        let (rows, errors, n) = parse_import(&csv, 1).unwrap();
        let lines: Vec<(usize, &ImportProblem)> =
            errors.iter().map(|e| (e.line, &e.problem)).collect();
        assert_eq!(
            lines,
            vec![
                (
                    2,
                    &ImportProblem::Openid {
                        value: "short".into()
                    }
                ),
                (
                    3,
                    &ImportProblem::Unionid {
                        value: "bad".into()
                    }
                ),
                (4, &ImportProblem::Duplicate { first_line: 1 }),
                (5, &ImportProblem::MissingOpenid),
                (6, &ImportProblem::Columns { found: 3 }),
            ]
        );
        assert_eq!(n, 5);
        assert_eq!(rows.len(), 2, "line 1 and line 7 (trailing empty columns)");
    }

    #[test]
    fn a_piece_keeps_the_file_numbering_and_has_no_header() {
        let (rows, errors, _) = parse_import("openid\nshort\n", 101).unwrap();
        assert!(rows.is_empty());
        assert_eq!(errors[0].line, 101, "not a header past line 1");
        assert_eq!(errors[1].line, 102);
    }

    #[test]
    fn a_huge_first_line_does_not_overflow() {
        // Found by `fuzz/` (csv_import): `first_line + i` overflowed for a piece said to start
        // on line usize::MAX.
        let (rows, errors, n) = parse_import(&format!("{A}\nbad\n{B}\n"), usize::MAX).unwrap();
        assert_eq!((rows.len(), n), (2, 1));
        assert_eq!(errors[0].line, usize::MAX);
    }

    #[test]
    fn limits() {
        let big = "x".repeat(MAX_IMPORT_BYTES + 1);
        assert!(matches!(
            parse_import(&big, 1),
            Err(Error::Refused(model::Refusal { ref field, .. })) if field == "csv"
        ));
        let many = format!("{A}\n").repeat(MAX_IMPORT_ROWS + 1);
        assert!(matches!(
            parse_import(&many, 1),
            Err(Error::Refused(model::Refusal { ref field, .. })) if field == "csv"
        ));
        let errors = "bad\n".repeat(MAX_REPORTED_ERRORS + 5);
        let (_, errors, n) = parse_import(&errors, 1).unwrap();
        assert_eq!(errors.len(), MAX_REPORTED_ERRORS);
        assert_eq!(n, MAX_REPORTED_ERRORS + 5);
    }

    #[test]
    fn key_hash_is_sha256_hex() {
        assert_eq!(
            hash_api_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
