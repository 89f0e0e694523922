//! Configuration from `WXPUSH_*` environment variables, with defaults that run out of the box.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use engine::accounts::vault::{self, MasterKey};
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
#[error("{var}: {message}")]
pub struct ConfigError {
    pub var: &'static str,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// `WXPUSH_ADDR`: where the console listens.
    pub addr: SocketAddr,
    /// `WXPUSH_DATABASE_URL`: `sqlite:PATH` or `postgres://…`.
    pub database_url: String,
    /// `WXPUSH_LOG`: a tracing filter such as `info` or `wxpush=debug,info`.
    pub log: String,
    /// `WXPUSH_PUBLIC_URL`: how browsers reach the console (setup link, allowed Origin).
    pub public_url: String,
    /// `WXPUSH_COOKIE_SECURE`: mark the session cookie `Secure` (behind HTTPS).
    pub cookie_secure: bool,
    /// `WXPUSH_SESSION_IDLE_MINUTES`: a session ends after this long without a request.
    pub session_idle_minutes: i64,
    /// `WXPUSH_TRUST_FORWARDED_FOR`: take the client IP from `X-Forwarded-For`.
    pub trust_forwarded_for: bool,
    /// `WXPUSH_SITE_ROOT`: the folder with the compiled browser bundle and static files.
    pub site_root: String,
    /// `WXPUSH_DISPATCH_CONCURRENCY`: template messages in flight at once in this process.
    pub dispatch_concurrency: usize,
    /// `WXPUSH_DISPATCH_LEASE_SECS`: how long a dead process's claimed recipients wait before
    /// another process takes them over.
    pub dispatch_lease_secs: i64,
    /// Rate and body-size limits (`WXPUSH_LOGIN_*`, `WXPUSH_CALLBACK_*`, `WXPUSH_MP_API_*`).
    pub limits: Limits,
    /// `WXPUSH_MASTER_KEY` or `WXPUSH_MASTER_KEY_FILE`: the key the account secrets are
    /// encrypted under.
    pub master_key: MasterKeySource,
    /// `WXPUSH_METRICS_TOKEN`: the bearer token `/metrics` requires; unset, `/metrics` is off.
    pub metrics_token: Option<MetricsToken>,
}

/// The bearer token of `/metrics` (never printed).
#[derive(Clone, PartialEq, Eq)]
pub struct MetricsToken(String);

impl MetricsToken {
    pub const VAR: &'static str = "WXPUSH_METRICS_TOKEN";
    /// Shorter tokens are refused at start: a scraper's token is stored in its configuration,
    /// so nothing stops it from being long.
    pub const MIN_CHARS: usize = 16;
    pub const MAX_CHARS: usize = 256;

    fn parse(text: &str) -> Result<Self, ConfigError> {
        let refuse = |message: String| ConfigError {
            var: Self::VAR,
            message,
        };
        if !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(refuse(
                "must be printable ASCII without spaces (it is sent in the Authorization header)"
                    .into(),
            ));
        }
        if !(Self::MIN_CHARS..=Self::MAX_CHARS).contains(&text.len()) {
            return Err(refuse(format!(
                "must be {} to {} characters long (e.g. `openssl rand -hex 32`)",
                Self::MIN_CHARS,
                Self::MAX_CHARS
            )));
        }
        Ok(Self(text.to_owned()))
    }

    /// Whether `presented` is the token, compared in constant time.
    pub fn matches(&self, presented: &str) -> bool {
        wechat::callback::signature::constant_time_eq(self.0.as_bytes(), presented.as_bytes())
    }
}

impl fmt::Debug for MetricsToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MetricsToken(…)")
    }
}

/// Where the master key comes from.
#[derive(Clone)]
pub enum MasterKeySource {
    /// `WXPUSH_MASTER_KEY`: the key itself (64 hex characters or the base64 of 32 bytes).
    Env(MasterKey),
    /// `WXPUSH_MASTER_KEY_FILE`, by default `master.key` beside the SQLite database (or
    /// `./data/master.key` with PostgreSQL): created with a new key on first start.
    File(PathBuf),
}

impl fmt::Debug for MasterKeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MasterKeySource::Env(key) => write!(f, "Env(key id {})", key.id()),
            MasterKeySource::File(path) => f.debug_tuple("File").field(path).finish(),
        }
    }
}

impl PartialEq for MasterKeySource {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (MasterKeySource::Env(a), MasterKeySource::Env(b)) => a.id() == b.id(),
            (MasterKeySource::File(a), MasterKeySource::File(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for MasterKeySource {}

/// The default key file: `master.key` in the folder of the SQLite database, else in `./data`.
pub fn default_key_file(database_url: &str) -> PathBuf {
    let file = database_url
        .strip_prefix("sqlite:")
        .map(|rest| rest.strip_prefix("//").unwrap_or(rest))
        .and_then(|rest| rest.split('?').next())
        .filter(|path| !path.is_empty() && *path != ":memory:");
    match file {
        Some(file) => Path::new(file)
            .parent()
            .unwrap_or(Path::new(""))
            .join("master.key"),
        None => PathBuf::from("./data/master.key"),
    }
}

pub const DEFAULT_ADDR: &str = "127.0.0.1:3000";
pub const DEFAULT_DATABASE_URL: &str = "sqlite:./data/wxpush.db";

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads the configuration through `get` (the environment, or a map in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |k: &str| {
            get(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };

        let addr_text = var("WXPUSH_ADDR").unwrap_or_else(|| DEFAULT_ADDR.into());
        let addr: SocketAddr = addr_text.parse().map_err(|_| ConfigError {
            var: "WXPUSH_ADDR",
            message: format!("'{addr_text}' is not an address like 127.0.0.1:3000"),
        })?;

        let database_url =
            var("WXPUSH_DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.into());
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(ConfigError {
                var: "WXPUSH_DATABASE_URL",
                message: "must start with sqlite: or postgres://".into(),
            });
        }

        let public_url = var("WXPUSH_PUBLIC_URL")
            .unwrap_or_else(|| format!("http://{addr}"))
            .trim_end_matches('/')
            .to_owned();
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            return Err(ConfigError {
                var: "WXPUSH_PUBLIC_URL",
                message: format!("'{public_url}' must start with http:// or https://"),
            });
        }

        let session_idle_minutes = match var("WXPUSH_SESSION_IDLE_MINUTES") {
            None => 480,
            Some(v) => match v.parse::<i64>() {
                Ok(n) if (1..=60 * 24 * 30).contains(&n) => n,
                _ => {
                    return Err(ConfigError {
                        var: "WXPUSH_SESSION_IDLE_MINUTES",
                        message: format!("'{v}' is not a number of minutes between 1 and 43200"),
                    })
                }
            },
        };

        let dispatch_concurrency = match var("WXPUSH_DISPATCH_CONCURRENCY") {
            None => 64,
            Some(v) => match v.parse::<usize>() {
                Ok(n) if (1..=1024).contains(&n) => n,
                _ => {
                    return Err(ConfigError {
                        var: "WXPUSH_DISPATCH_CONCURRENCY",
                        message: format!("'{v}' is not a number between 1 and 1024"),
                    })
                }
            },
        };

        let dispatch_lease_secs = match var("WXPUSH_DISPATCH_LEASE_SECS") {
            None => 60,
            Some(v) => match v.parse::<i64>() {
                Ok(n) if (1..=600).contains(&n) => n,
                _ => {
                    return Err(ConfigError {
                        var: "WXPUSH_DISPATCH_LEASE_SECS",
                        message: format!("'{v}' is not a number of seconds between 1 and 600"),
                    })
                }
            },
        };

        let limits = Limits::from_var(&var)?;
        let master_key = match (var(vault::KEY_VAR), var(vault::KEY_FILE_VAR)) {
            (Some(_), Some(_)) => {
                return Err(ConfigError {
                    var: vault::KEY_FILE_VAR,
                    message: format!("cannot be used together with {}", vault::KEY_VAR),
                })
            }
            (Some(text), None) => {
                MasterKeySource::Env(MasterKey::parse(&text).map_err(|message| ConfigError {
                    var: vault::KEY_VAR,
                    message,
                })?)
            }
            (None, Some(path)) => MasterKeySource::File(PathBuf::from(path)),
            (None, None) => MasterKeySource::File(default_key_file(&database_url)),
        };

        let metrics_token = var(MetricsToken::VAR)
            .map(|text| MetricsToken::parse(&text))
            .transpose()?;

        Ok(Config {
            metrics_token,
            master_key,
            limits,
            addr,
            dispatch_concurrency,
            dispatch_lease_secs,
            database_url,
            log: var("WXPUSH_LOG").unwrap_or_else(|| "info".into()),
            cookie_secure: flag(
                &var,
                "WXPUSH_COOKIE_SECURE",
                public_url.starts_with("https://"),
            )?,
            trust_forwarded_for: flag(&var, "WXPUSH_TRUST_FORWARDED_FOR", false)?,
            public_url,
            session_idle_minutes,
            site_root: var("WXPUSH_SITE_ROOT").unwrap_or_else(|| "target/site".into()),
        })
    }
}

fn flag(
    var: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: bool,
) -> Result<bool, ConfigError> {
    match var(name).map(|v| v.to_ascii_lowercase()) {
        None => Ok(default),
        Some(v) if matches!(v.as_str(), "1" | "true" | "yes" | "on") => Ok(true),
        Some(v) if matches!(v.as_str(), "0" | "false" | "no" | "off") => Ok(false),
        Some(v) => Err(ConfigError {
            var: name,
            message: format!("'{v}' is not true or false"),
        }),
    }
}

/// Request rate and body-size limits, per process (README "Limits").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// `WXPUSH_LOGIN_PER_IP_PER_MIN`: login attempts per client IP per minute (all at once too).
    pub login_per_ip_per_min: u32,
    /// `WXPUSH_LOGIN_PER_USER_PER_MIN`: login attempts per username per minute.
    pub login_per_user_per_min: u32,
    /// `WXPUSH_CALLBACK_PER_SEC`: pushes per second per AppID and client IP (burst twice that).
    pub callback_per_sec: u32,
    /// `WXPUSH_CALLBACK_MAX_BODY_KB`: larger callback bodies are refused with 413.
    pub callback_max_body_kb: u32,
    /// `WXPUSH_MP_API_PER_IP_PER_SEC`: Mini Program API requests per second per client IP
    /// (burst twice that).
    pub mp_api_per_ip_per_sec: u32,
    /// `WXPUSH_MP_API_PER_KEY_PER_SEC`: Mini Program API requests per second per API key
    /// (burst twice that).
    pub mp_api_per_key_per_sec: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            login_per_ip_per_min: 30,
            login_per_user_per_min: 20,
            callback_per_sec: 500,
            callback_max_body_kb: 64,
            mp_api_per_ip_per_sec: 40,
            mp_api_per_key_per_sec: 20,
        }
    }
}

impl Limits {
    fn from_var(var: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let d = Limits::default();
        let num = |name: &'static str, default: u32, max: u32| match var(name) {
            None => Ok(default),
            Some(v) => match v.parse::<u32>() {
                Ok(n) if (1..=max).contains(&n) => Ok(n),
                _ => Err(ConfigError {
                    var: name,
                    message: format!("'{v}' is not a number between 1 and {max}"),
                }),
            },
        };
        Ok(Limits {
            login_per_ip_per_min: num(
                "WXPUSH_LOGIN_PER_IP_PER_MIN",
                d.login_per_ip_per_min,
                10_000,
            )?,
            login_per_user_per_min: num(
                "WXPUSH_LOGIN_PER_USER_PER_MIN",
                d.login_per_user_per_min,
                10_000,
            )?,
            callback_per_sec: num("WXPUSH_CALLBACK_PER_SEC", d.callback_per_sec, 100_000)?,
            callback_max_body_kb: num("WXPUSH_CALLBACK_MAX_BODY_KB", d.callback_max_body_kb, 1024)?,
            mp_api_per_ip_per_sec: num(
                "WXPUSH_MP_API_PER_IP_PER_SEC",
                d.mp_api_per_ip_per_sec,
                10_000,
            )?,
            mp_api_per_key_per_sec: num(
                "WXPUSH_MP_API_PER_KEY_PER_SEC",
                d.mp_api_per_key_per_sec,
                10_000,
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_run_out_of_the_box() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.addr.to_string(), "127.0.0.1:3000");
        assert_eq!(c.database_url, "sqlite:./data/wxpush.db");
        assert_eq!(c.public_url, "http://127.0.0.1:3000");
        assert!(!c.cookie_secure);
        assert!(!c.trust_forwarded_for);
        assert_eq!(c.session_idle_minutes, 480);
        assert_eq!(c.log, "info");
        assert_eq!(c.metrics_token, None, "/metrics is off by default");
        assert_eq!(
            c.master_key,
            MasterKeySource::File(PathBuf::from("./data/master.key"))
        );
    }

    #[test]
    fn the_master_key_comes_from_the_environment_or_a_file() {
        let file = |pairs: &[(&str, &str)]| match parse(pairs).unwrap().master_key {
            MasterKeySource::File(path) => path,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            file(&[(
                "WXPUSH_DATABASE_URL",
                "sqlite:/var/lib/wxpush/wx.db?mode=rwc"
            )]),
            PathBuf::from("/var/lib/wxpush/master.key")
        );
        assert_eq!(
            file(&[("WXPUSH_DATABASE_URL", "sqlite://wx.db")]),
            PathBuf::from("master.key")
        );
        assert_eq!(
            file(&[("WXPUSH_DATABASE_URL", "postgres://u@db/wx")]),
            PathBuf::from("./data/master.key")
        );
        assert_eq!(
            file(&[("WXPUSH_MASTER_KEY_FILE", "/etc/wxpush/key")]),
            PathBuf::from("/etc/wxpush/key")
        );

        let hex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
        let MasterKeySource::Env(key) = parse(&[("WXPUSH_MASTER_KEY", hex)]).unwrap().master_key
        else {
            panic!("a key from the environment")
        };
        assert_eq!(key.to_hex().as_str(), hex);
        assert!(!format!("{:?}", parse(&[("WXPUSH_MASTER_KEY", hex)]).unwrap()).contains(hex));

        for bad in ["secret", &hex[..63], "AAAA"] {
            let e = parse(&[("WXPUSH_MASTER_KEY", bad)]).unwrap_err();
            assert_eq!(e.var, "WXPUSH_MASTER_KEY");
            assert!(e.to_string().contains("64 hex characters"), "{e}");
            assert!(!e.message.contains(bad), "the key is never echoed");
        }
        assert_eq!(
            parse(&[("WXPUSH_MASTER_KEY", hex), ("WXPUSH_MASTER_KEY_FILE", "/k")])
                .unwrap_err()
                .var,
            "WXPUSH_MASTER_KEY_FILE"
        );
    }

    #[test]
    fn values_are_read() {
        let c = parse(&[
            ("WXPUSH_ADDR", "0.0.0.0:8080"),
            ("WXPUSH_DATABASE_URL", "postgres://u@db/wx"),
            ("WXPUSH_PUBLIC_URL", "https://push.example.com/"),
            ("WXPUSH_SESSION_IDLE_MINUTES", "30"),
            ("WXPUSH_TRUST_FORWARDED_FOR", "yes"),
        ])
        .unwrap();
        assert_eq!(c.addr.port(), 8080);
        assert_eq!(c.public_url, "https://push.example.com");
        assert!(
            c.cookie_secure,
            "https public URL makes cookies Secure by default"
        );
        assert!(c.trust_forwarded_for);
        assert_eq!(c.session_idle_minutes, 30);
    }

    #[test]
    fn limits_are_read_and_checked() {
        assert_eq!(parse(&[]).unwrap().limits, Limits::default());
        let c = parse(&[
            ("WXPUSH_LOGIN_PER_IP_PER_MIN", "3"),
            ("WXPUSH_CALLBACK_MAX_BODY_KB", "1"),
        ])
        .unwrap();
        assert_eq!(c.limits.login_per_ip_per_min, 3);
        assert_eq!(c.limits.callback_max_body_kb, 1);
        assert_eq!(c.limits.callback_per_sec, 500);
        for (name, bad) in [
            ("WXPUSH_LOGIN_PER_USER_PER_MIN", "0"),
            ("WXPUSH_CALLBACK_PER_SEC", "fast"),
            ("WXPUSH_CALLBACK_MAX_BODY_KB", "4096"),
            ("WXPUSH_MP_API_PER_KEY_PER_SEC", "-1"),
        ] {
            assert_eq!(parse(&[(name, bad)]).unwrap_err().var, name);
        }
    }

    #[test]
    fn the_metrics_token_is_checked_and_never_printed() {
        let token = "0123456789abcdef-metrics";
        let c = parse(&[("WXPUSH_METRICS_TOKEN", token)]).unwrap();
        let held = c.metrics_token.clone().unwrap();
        assert!(held.matches(token));
        assert!(!held.matches("0123456789abcdef-metricS"));
        assert!(!held.matches(""));
        assert!(!format!("{c:?}").contains(token));
        for bad in ["short", "has a space in the middle!", &"x".repeat(257)] {
            let e = parse(&[("WXPUSH_METRICS_TOKEN", bad)]).unwrap_err();
            assert_eq!(e.var, "WXPUSH_METRICS_TOKEN");
            assert!(e.to_string().starts_with("WXPUSH_METRICS_TOKEN: "), "{e}");
            assert!(!e.message.contains(bad), "the token is never echoed");
        }
    }

    #[test]
    fn bad_values_name_the_variable() {
        assert_eq!(
            parse(&[("WXPUSH_ADDR", "localhost")]).unwrap_err().var,
            "WXPUSH_ADDR"
        );
        assert_eq!(
            parse(&[("WXPUSH_DATABASE_URL", "mysql://x")])
                .unwrap_err()
                .var,
            "WXPUSH_DATABASE_URL"
        );
        assert_eq!(
            parse(&[("WXPUSH_SESSION_IDLE_MINUTES", "0")])
                .unwrap_err()
                .var,
            "WXPUSH_SESSION_IDLE_MINUTES"
        );
        let e = parse(&[("WXPUSH_COOKIE_SECURE", "maybe")]).unwrap_err();
        assert_eq!(e.var, "WXPUSH_COOKIE_SECURE");
        assert!(e.to_string().contains("maybe"));
        assert_eq!(
            parse(&[("WXPUSH_PUBLIC_URL", "ftp://x")]).unwrap_err().var,
            "WXPUSH_PUBLIC_URL"
        );
    }
}
