//! SHA-1 signatures of pushes: `signature` (3 items) and `msg_signature` (4 items), compared in constant time.

use sha1::{Digest, Sha1};

use super::error::CallbackError;

/// `hex(sha1(concat(sort(parts))))`: the parts are sorted as byte strings (lexicographic),
/// concatenated without separator, hashed with SHA-1 and rendered as lowercase hex.
pub fn sorted_sha1_hex(parts: &[&str]) -> String {
    let mut sorted: Vec<&str> = parts.to_vec();
    sorted.sort_unstable();
    let mut hasher = Sha1::new();
    for part in sorted {
        hasher.update(part.as_bytes());
    }
    to_hex(&hasher.finalize())
}

/// The plain-mode / URL-verification `signature` over `[token, timestamp, nonce]`.
pub fn signature(token: &str, timestamp: &str, nonce: &str) -> String {
    sorted_sha1_hex(&[token, timestamp, nonce])
}

/// The safe-mode `msg_signature` over `[token, timestamp, nonce, encrypt]`
/// (`encrypt` is the base64 ciphertext string exactly as sent).
pub fn msg_signature(token: &str, timestamp: &str, nonce: &str, encrypt: &str) -> String {
    sorted_sha1_hex(&[token, timestamp, nonce, encrypt])
}

/// Checks a received `signature`; hex case is ignored, the comparison is constant-time.
pub fn verify_signature(
    token: &str,
    timestamp: &str,
    nonce: &str,
    received: &str,
) -> Result<(), CallbackError> {
    check(&signature(token, timestamp, nonce), received)
}

/// Checks a received `msg_signature`; hex case is ignored, the comparison is constant-time.
pub fn verify_msg_signature(
    token: &str,
    timestamp: &str,
    nonce: &str,
    encrypt: &str,
    received: &str,
) -> Result<(), CallbackError> {
    check(&msg_signature(token, timestamp, nonce, encrypt), received)
}

/// Compares two byte strings in time independent of their contents (the length is not secret).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

fn check(expected: &str, received: &str) -> Result<(), CallbackError> {
    let received = received.trim().to_ascii_lowercase();
    if constant_time_eq(expected.as_bytes(), received.as_bytes()) {
        Ok(())
    } else {
        Err(CallbackError::BadSignature)
    }
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_sorted_sha1_vectors() {
        // wechat-api.md V6: WxJava SHA1Test and silenceper signature_test.
        assert_eq!(
            sorted_sha1_hex(&["123", "345"]),
            "9f537aeb751ec72605f57f94a2f6dc3e3958e1dd"
        );
        assert_eq!(
            sorted_sha1_hex(&["a", "b", "c"]),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            sorted_sha1_hex(&["c", "a", "b"]),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
    }

    #[test]
    fn verify_accepts_uppercase_and_rejects_others() {
        let good = signature("test", "1410685589", "test");
        assert_eq!(good, "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff");
        assert_eq!(
            verify_signature("test", "1410685589", "test", &good.to_ascii_uppercase()),
            Ok(())
        );
        // Last char changed: must fail (wechatpy negative case).
        assert_eq!(
            verify_signature(
                "test",
                "1410685589",
                "test",
                "f21891de399b4e33a1a93c9a7b8a8fffb5a443fe"
            ),
            Err(CallbackError::BadSignature)
        );
        assert_eq!(
            verify_signature("test", "1410685589", "test", ""),
            Err(CallbackError::BadSignature)
        );
        assert_eq!(
            verify_signature("test", "1410685589", "test", "invalid-signature"),
            Err(CallbackError::BadSignature)
        );
        // Non-ASCII input must not panic.
        assert_eq!(
            verify_signature("test", "1410685589", "test", "签名签名签名"),
            Err(CallbackError::BadSignature)
        );
    }

    #[test]
    fn constant_time_eq_basics() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
