//! Configuration from `WXPUSH_*` environment variables, with defaults that run out of the box.

use std::net::SocketAddr;

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

        Ok(Config {
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
