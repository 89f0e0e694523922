//! Local paths: where a redirect after login may send the browser, and request paths with their
//! dot segments resolved. Both read a path the way a browser does (WHATWG URL parsing), so what
//! is checked is what the browser will load.

use url::Url;

/// Any origin would do: only paths relative to it are ever produced.
const BASE: &str = "http://wxpush.invalid/";

/// The same-site path to send a browser to after login, or `None` for anything else.
///
/// `next` must be a path (`/…`, never `//host`, `/\host`, a scheme or a relative path) without
/// control characters or whitespace anywhere — browsers silently drop tabs and newlines, which
/// turns `/\t/evil.example` into `//evil.example` — and must still be a path of this site once
/// resolved (`/a/..//evil` resolves to `//evil`). The result is the resolved path and query,
/// percent-encoded (always a valid `Location` header).
pub fn local_redirect(next: &str) -> Option<String> {
    if !next.starts_with('/')
        || next.starts_with("//")
        || next.starts_with("/\\")
        || next
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
    {
        return None;
    }
    let base = Url::parse(BASE).ok()?;
    let url = base.join(next).ok()?;
    if url.origin() != base.origin() || !url.username().is_empty() || url.password().is_some() {
        return None;
    }
    let path = url.path();
    // `//x` as a Location is another host; `/\x` is read the same way by browsers.
    if path.starts_with("//") || path.starts_with("/\\") || path.contains("%5C") {
        return None;
    }
    let mut out = path.to_owned();
    if let Some(q) = url.query() {
        out.push('?');
        out.push_str(q);
    }
    // Percent-decoding must not reveal a second, dangerous reading either.
    let decoded = percent_decode(&out);
    if decoded.starts_with("//")
        || decoded.starts_with("/\\")
        || decoded.chars().any(|c| c.is_control())
    {
        return None;
    }
    out.is_ascii().then_some(out)
}

/// The request path with `.` and `..` segments resolved (also percent-encoded ones such as
/// `%2e%2e`), or `None` when it has none and is used as it is.
pub fn resolve_dot_segments(path: &str) -> Option<String> {
    let dotted = path.split('/').any(|segment| {
        let s = segment.to_ascii_lowercase().replace("%2e", ".");
        s == "." || s == ".."
    });
    if !dotted {
        return None;
    }
    let url = Url::parse(&format!("http://wxpush.invalid{path}")).ok()?;
    let resolved = url.path().to_owned();
    Some(if resolved.is_empty() {
        "/".to_owned()
    } else {
        resolved
    })
}

/// `%XX` sequences as bytes (invalid ones kept), read as UTF-8 with replacement.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_local_paths() {
        assert_eq!(local_redirect("/").as_deref(), Some("/"));
        assert_eq!(
            local_redirect("/followers?tag=1&q=%E6%9D%8E").as_deref(),
            Some("/followers?tag=1&q=%E6%9D%8E")
        );
        assert_eq!(local_redirect("/jobs/12").as_deref(), Some("/jobs/12"));
        assert_eq!(
            local_redirect("/a/../jobs").as_deref(),
            Some("/jobs"),
            "dot segments resolved"
        );
        assert_eq!(
            local_redirect("/followers?q=李雷").as_deref(),
            Some("/followers?q=%E6%9D%8E%E9%9B%B7"),
            "non-ASCII is encoded, so the header is valid"
        );
        assert_eq!(
            local_redirect("/%09/x").as_deref(),
            None,
            "an encoded tab is refused too"
        );
    }

    #[test]
    fn refuses_everything_else() {
        for bad in [
            "",
            "//evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r/evil.example",
            "/\u{0b}/evil.example",
            "/\u{a0}/evil.example",
            "/ /evil.example",
            "/\n",
            "/\r",
            "https://evil.example/",
            "http://wxpush.invalid/x",
            "javascript:alert(1)",
            "evil.example",
            "/x/..//evil.example",
            "/%2e%2e//evil.example",
            "/%2F/evil.example",
            "/%5C/evil.example",
            "/%0A",
            "/%0D",
            "/%00",
        ] {
            assert_eq!(local_redirect(bad), None, "{bad:?} must be refused");
        }
    }

    #[test]
    fn resolves_dot_segments() {
        assert_eq!(resolve_dot_segments("/staff"), None);
        assert_eq!(resolve_dot_segments("/pkg/wxpush.js"), None);
        assert_eq!(resolve_dot_segments("/a..b/c"), None);
        assert_eq!(
            resolve_dot_segments("/pkg/../staff").as_deref(),
            Some("/staff")
        );
        assert_eq!(
            resolve_dot_segments("/pkg/%2e%2e/staff").as_deref(),
            Some("/staff")
        );
        assert_eq!(
            resolve_dot_segments("/pkg/%2E./staff").as_deref(),
            Some("/staff")
        );
        assert_eq!(resolve_dot_segments("/api/./../x").as_deref(), Some("/x"));
        assert_eq!(resolve_dot_segments("/..").as_deref(), Some("/"));
    }
}
