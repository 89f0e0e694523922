//! Fuzzes the login's `next` parameter and the page guard's path resolution: whatever the input, no panic; an accepted `next` is a path of this site that a browser cannot read as another host (no `//`, no backslash, no control or whitespace characters, not even percent-encoded), and is a valid header value; a resolved request path has no dot segments left.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Some(path) = model::path::local_redirect(&text) {
        assert!(path.starts_with('/'), "{path:?}");
        assert!(!path.starts_with("//") && !path.starts_with("/\\"), "{path:?}");
        assert!(path.is_ascii(), "{path:?}");
        assert!(
            path.bytes().all(|b| b.is_ascii_graphic()),
            "a control or space character in {path:?}"
        );
        assert!(!path.contains('\\'), "{path:?}");
        let lower = path.to_ascii_lowercase();
        assert!(!lower.starts_with("/%2f") && !lower.starts_with("/%5c"), "{path:?}");
        // It stays what it is when checked again (normalised once and for all).
        assert_eq!(model::path::local_redirect(&path).as_deref(), Some(path.as_str()));
    }
    if text.starts_with('/') {
        if let Some(resolved) = model::path::resolve_dot_segments(&text) {
            assert!(resolved.starts_with('/'), "{resolved:?}");
            assert_eq!(model::path::resolve_dot_segments(&resolved), None, "{resolved:?}");
        }
    }
});
