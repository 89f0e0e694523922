//! The console's static site: the content-hashed bundle served precompressed and cached for good.

use std::path::{Path, PathBuf};

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use serde::Deserialize;
use tower_http::services::ServeDir;

/// The base name of the bundle when the site has no `pkg/site.json` (a `cargo leptos` build).
const UNHASHED_BUNDLE: &str = "wxpush";

/// What `scripts/pack-site.mjs` writes beside the bundle.
#[derive(Deserialize)]
struct Manifest {
    bundle: String,
}

/// The bundle this process serves: `pkg/<bundle>.js`, `.wasm` and `.css`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Site {
    pub bundle: String,
    /// The name carries a hash of the content, so browsers may keep the files for good.
    pub hashed: bool,
}

impl Site {
    /// Reads `<site_root>/pkg/site.json`; without one, the unhashed names, never cached.
    pub fn read(site_root: &str) -> Site {
        let at = Path::new(site_root).join("pkg").join("site.json");
        let unhashed = Site {
            bundle: UNHASHED_BUNDLE.into(),
            hashed: false,
        };
        let text = match std::fs::read_to_string(&at) {
            Ok(text) => text,
            Err(e) => {
                tracing::warn!(
                    "no bundle manifest at {} ({e}): serving pkg/{UNHASHED_BUNDLE}.* uncached; \
                     `make build` lays the site out",
                    at.display()
                );
                return unhashed;
            }
        };
        match serde_json::from_str::<Manifest>(&text) {
            Ok(m) if is_bundle_name(&m.bundle) => Site {
                bundle: m.bundle,
                hashed: true,
            },
            Ok(m) => {
                tracing::error!("{}: not a bundle name: {:?}", at.display(), m.bundle);
                unhashed
            }
            Err(e) => {
                tracing::error!("{}: {e}", at.display());
                unhashed
            }
        }
    }

    /// Whether a path under `/pkg/` is one of this bundle's three files.
    fn holds(&self, file: &str) -> bool {
        file.strip_prefix(self.bundle.as_str())
            .is_some_and(|rest| [".js", ".wasm", ".css"].contains(&rest))
    }
}

/// Letters, digits, dashes and underscores: the name goes into URLs and the hydration script.
fn is_bundle_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `/pkg/*`: the files as they are, or their `.br`/`.gz` copy when the browser accepts it.
pub fn routes<S: Clone + Send + Sync + 'static>(site_root: &str, site: Site) -> Router<S> {
    let dir: PathBuf = Path::new(site_root).join("pkg");
    let files = ServeDir::new(dir).precompressed_br().precompressed_gzip();
    Router::new()
        .nest_service("/pkg", files)
        .layer(axum::middleware::from_fn_with_state(site, cache))
}

/// A hashed bundle file never changes under its name: a year, immutable. Anything else under
/// `/pkg/` (the bundle's JS snippets, an unhashed `cargo leptos` build) is checked every time.
async fn cache(State(site): State<Site>, req: Request, next: Next) -> Response {
    let immutable = site.hashed
        && req
            .uri()
            .path()
            .strip_prefix("/pkg/")
            .is_some_and(|file| site.holds(file));
    let mut response = next.run(req).await;
    if response.status() == StatusCode::OK || response.status() == StatusCode::NOT_MODIFIED {
        let value = if immutable {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        };
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(value));
        // The same URL answers brotli, gzip or plain bytes: caches must key on the encoding.
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_bundle_files_are_immutable() {
        let site = Site {
            bundle: "wxpush-0123456789abcdef".into(),
            hashed: true,
        };
        assert!(site.holds("wxpush-0123456789abcdef.wasm"));
        assert!(site.holds("wxpush-0123456789abcdef.css"));
        assert!(!site.holds("wxpush-0123456789abcdef.wasm.map"));
        assert!(!site.holds("wxpush-0123456789abcdef/evil.js"));
        assert!(!site.holds("snippets/leptos-abc/inline0.js"));
        assert!(!site.holds("site.json"));
    }

    #[test]
    fn a_manifest_names_the_bundle_or_is_ignored() {
        let root = std::env::temp_dir().join(format!("wxpush-site-{}", std::process::id()));
        let pkg = root.join("pkg");
        std::fs::create_dir_all(&pkg).unwrap();
        let root_str = root.to_str().unwrap();
        assert_eq!(Site::read(root_str).bundle, "wxpush");
        std::fs::write(
            pkg.join("site.json"),
            r#"{"bundle":"wxpush-00ff","profile":"dev"}"#,
        )
        .unwrap();
        assert_eq!(
            Site::read(root_str),
            Site {
                bundle: "wxpush-00ff".into(),
                hashed: true
            }
        );
        std::fs::write(pkg.join("site.json"), r#"{"bundle":"\"/><script>"}"#).unwrap();
        assert!(!Site::read(root_str).hashed);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
