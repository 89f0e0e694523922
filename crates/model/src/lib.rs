//! The domain vocabulary shared by the engine, the app (browser and server), the CLI, the HTTP
//! APIs and the WeChat client: identifiers and the rules that say what a valid one is. No I/O,
//! so it compiles for the browser too.

pub mod openid;
pub mod path;
