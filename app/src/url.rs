//! Query strings for links that keep the current filters (the same on server and browser), and
//! the page's `:id` route parameter.

/// The page's `:id` route parameter as a number (0 when it is not one: the page then shows
/// "not found" from its server function).
pub fn use_id_param() -> impl Fn() -> i64 + Copy + Send + Sync + 'static {
    let params = leptos_router::hooks::use_params_map();
    move || {
        leptos::prelude::Read::read(&params)
            .get("id")
            .and_then(|s| s.parse::<i64>().ok())
            .unwrap_or(0)
    }
}

/// Percent-encodes everything but unreserved characters and `/`.
pub fn encode_component(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `a=1&b=x%20y` from pairs, leaving out empty values.
pub fn query_string(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", encode_component(v)))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_and_skips_empty() {
        assert_eq!(
            encode_component("/followers?tag=1&x=y"),
            "/followers%3Ftag%3D1%26x%3Dy"
        );
        assert_eq!(
            query_string(&[("q", "李 雷"), ("tag", ""), ("after", "oAb_-")]),
            "q=%E6%9D%8E%20%E9%9B%B7&after=oAb_-"
        );
    }
}
