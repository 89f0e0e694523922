//! Errors of starting, configuring and controlling the simulator (not WeChat errors: see `errors`).

/// Why the simulator could not start or a control request was refused.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The configuration is inconsistent.
    #[error("invalid simulator configuration: {0}")]
    Config(String),
    /// Binding the listener failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    /// The HTTP server failed.
    #[error("simulator server failed: {0}")]
    Serve(std::io::Error),
    /// A control request names something that does not exist or is malformed.
    #[error("{0}")]
    Control(String),
}
