//! argon2id password hashing, run on the blocking pool so logins never stall the runtime.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::{Error, Result};

/// Hashes `password` into a PHC string (`$argon2id$v=19$…`).
pub async fn hash(password: String) -> Result<String> {
    tokio::task::spawn_blocking(move || hash_blocking(&password))
        .await
        .map_err(|e| Error::Internal(format!("hashing task failed: {e}")))?
}

/// Checks `password` against a PHC string; a malformed stored hash counts as a mismatch.
pub async fn verify(password: String, phc: String) -> Result<bool> {
    tokio::task::spawn_blocking(move || verify_blocking(&password, &phc))
        .await
        .map_err(|e| Error::Internal(format!("verify task failed: {e}")))
}

pub fn hash_blocking(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Internal(format!("argon2: {e}")))
}

pub fn verify_blocking(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A valid hash of a random password: verified against when the username does not exist, so
/// the response time does not tell which usernames are real.
pub(crate) fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        let random: [u8; 16] = rand::random();
        hash_blocking(&hex::encode(random)).unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_argon2id_and_salted() {
        let a = hash_blocking("correct horse battery").unwrap();
        let b = hash_blocking("correct horse battery").unwrap();
        assert!(a.starts_with("$argon2id$v=19$"), "{a}");
        assert_ne!(a, b, "two hashes of one password must differ by salt");
    }

    #[test]
    fn verify_accepts_right_and_rejects_wrong() {
        let h = hash_blocking("s3cret-pass").unwrap();
        assert!(verify_blocking("s3cret-pass", &h));
        assert!(!verify_blocking("s3cret-pasS", &h));
        assert!(!verify_blocking("", &h));
    }

    #[test]
    fn malformed_hash_is_a_mismatch_not_a_panic() {
        assert!(!verify_blocking("x", "not a phc string"));
        assert!(!verify_blocking("x", ""));
    }

    #[tokio::test]
    async fn async_hash_round_trip() {
        let h = hash("pässwörd 密码".into()).await.unwrap();
        assert!(verify("pässwörd 密码".into(), h.clone()).await.unwrap());
        assert!(!verify("passwort".into(), h).await.unwrap());
    }
}
