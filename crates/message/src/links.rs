//! Colors, jump URLs and Mini Program page paths.

use crate::problem::Problem;

/// Longest URL or page path accepted, in characters.
pub const LINK_MAX: usize = 1024;

/// `#RRGGBB` (either case); empty = no color.
pub fn check_color(color: &str) -> Result<(), Problem> {
    if color.is_empty() {
        return Ok(());
    }
    match color.strip_prefix('#') {
        Some(hex) if hex.len() == 6 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => Ok(()),
        _ => Err(Problem::ColorFormat),
    }
}

/// Optional jump URL: empty, or http(s)://host… without whitespace, ≤ 1024 characters.
pub fn check_url(url: &str) -> Result<(), Problem> {
    if url.is_empty() {
        return Ok(());
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Problem::UrlFormat);
    }
    if url.chars().count() > LINK_MAX {
        return Err(Problem::TooLong(LINK_MAX));
    }
    let rest = strip_prefix_ignore_case(url, "https://")
        .or_else(|| strip_prefix_ignore_case(url, "http://"))
        .ok_or(Problem::UrlFormat)?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() {
        return Err(Problem::UrlFormat);
    }
    Ok(())
}

/// A page path like `pages/order/detail?id=42`: no leading `/`, no whitespace or control
/// characters, ≤ 1024 characters; the path part made of letters, digits, `/ _ - .`.
/// Required (empty is `Required`).
pub fn check_pagepath(path: &str) -> Result<(), Problem> {
    if path.is_empty() {
        return Err(Problem::Required);
    }
    if path.starts_with('/') || path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Problem::PagePathFormat);
    }
    if path.chars().count() > LINK_MAX {
        return Err(Problem::TooLong(LINK_MAX));
    }
    let page = path.split('?').next().unwrap_or_default();
    let page_ok = !page.is_empty()
        && !page.ends_with('/')
        && page
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_-.".contains(&b));
    if page_ok {
        Ok(())
    } else {
        Err(Problem::PagePathFormat)
    }
}

/// A subscribe message's optional `page`: empty (no jump), or a page path as
/// [`check_pagepath`] accepts it (no leading `/`, query allowed, ≤ [`LINK_MAX`] characters).
pub fn check_page(page: &str) -> Result<(), Problem> {
    if page.is_empty() {
        Ok(())
    } else {
        check_pagepath(page)
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    // `prefix` is ASCII, so a match ends on a char boundary.
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| s.get(prefix.len()..))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colors() {
        for c in ["", "#173177", "#FF0000", "#abcdef", "#AbCdE9"] {
            assert_eq!(check_color(c), Ok(()), "{c}");
        }
        for c in [
            "173177",
            "#17317",
            "#1731777",
            "#GGGGGG",
            "red",
            "#",
            "＃173177",
            "#17317７",
        ] {
            assert_eq!(check_color(c), Err(Problem::ColorFormat), "{c}");
        }
    }

    #[test]
    fn urls() {
        for u in [
            "",
            "http://weixin.qq.com/download",
            "https://example.com",
            "https://example.com:8443/a?b=c#d",
            "HTTPS://EXAMPLE.COM/",
            "https://例子.中国/路径",
        ] {
            assert_eq!(check_url(u), Ok(()), "{u}");
        }
        for u in [
            "example.com",
            "ftp://example.com",
            "http://",
            "https:///path",
            "https://?q",
            "https://exa mple.com",
            " https://example.com",
            "https://example.com/\n",
            "javascript:alert(1)",
            "htt",
            "中",
        ] {
            assert_eq!(check_url(u), Err(Problem::UrlFormat), "{u}");
        }
        let at_limit = format!("https://a.com/{}", "x".repeat(LINK_MAX - 14));
        assert_eq!(at_limit.chars().count(), LINK_MAX);
        assert_eq!(check_url(&at_limit), Ok(()));
        assert_eq!(
            check_url(&format!("{at_limit}x")),
            Err(Problem::TooLong(LINK_MAX))
        );
    }

    #[test]
    fn pagepaths() {
        for p in [
            "index",
            "index?foo=bar",
            "pages/order/detail?id=42",
            "pages/index/index?id=1&name=张三",
            "sub-pkg/a_b/c.d",
        ] {
            assert_eq!(check_pagepath(p), Ok(()), "{p}");
        }
        assert_eq!(check_pagepath(""), Err(Problem::Required));
        for p in [
            "/pages/index/index",
            "pages/index index",
            "pages/index\t",
            "pages/index/",
            "?id=1",
            "pages/首页",
            "pages/index#x",
            "pages/a:b",
        ] {
            assert_eq!(check_pagepath(p), Err(Problem::PagePathFormat), "{p}");
        }
        let long = "p".repeat(LINK_MAX + 1);
        assert_eq!(check_pagepath(&long), Err(Problem::TooLong(LINK_MAX)));
        assert_eq!(check_pagepath(&long[..LINK_MAX]), Ok(()));
    }

    #[test]
    fn subscribe_pages() {
        for p in [
            "",
            "index",
            "index?foo=bar",
            "pages/order/detail?id=42&from=msg",
        ] {
            assert_eq!(check_page(p), Ok(()), "{p}");
        }
        for p in [
            "/pages/index/index",
            "pages/index index",
            " pages/index",
            "pages/index\n",
            "pages/index?a=b c",
            "?id=1",
            "pages/",
        ] {
            assert_eq!(check_page(p), Err(Problem::PagePathFormat), "{p:?}");
        }
        let long = "p".repeat(LINK_MAX + 1);
        assert_eq!(check_page(&long), Err(Problem::TooLong(LINK_MAX)));
        assert_eq!(check_page(&long[..LINK_MAX]), Ok(()));
    }
}
