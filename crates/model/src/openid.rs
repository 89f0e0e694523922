//! What an openid (or unionid) looks like: WeChat's base64url alphabet, 28 characters today.

/// The shortest and longest openid accepted: WeChat's are 28 characters; some room either way.
pub const OPENID_MIN: usize = 20;
pub const OPENID_MAX: usize = 64;

/// True for a plausible openid or unionid: 20–64 letters, digits, `-` or `_`. Anything else
/// (formula characters, spaces, markup) can never have come from WeChat.
pub fn is_openid(s: &str) -> bool {
    (OPENID_MIN..=OPENID_MAX).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_wechat_openids_only() {
        assert!(is_openid("oXYZ1234567890abcdefghijklmn"));
        assert!(is_openid("o9AgO5Kd5ggOC-bXrbNODIiE3bGY"));
        assert!(is_openid("ozy4qt1eDxSxzCr0aNT0mXCWfrDE"));
        assert!(!is_openid(""));
        assert!(!is_openid("short"));
        assert!(!is_openid("=cmd|' /C calc'!A0aaaaaaaaaaaa"));
        assert!(!is_openid(&"a".repeat(129)));
        assert!(!is_openid("oXYZ1234567890abcdefghijklm\u{e9}"));
        assert!(!is_openid("oXYZ1234567890 abcdefghijklmn"));
    }
}
