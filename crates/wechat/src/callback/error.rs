//! The error type of everything under `callback`: each variant names what failed.

/// Why a push from WeChat was rejected. None of the variants carries key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    /// `signature` / `msg_signature` does not match the expected SHA-1.
    #[error("signature mismatch")]
    BadSignature,
    /// A required query parameter or XML/JSON field is absent (or empty).
    #[error("missing field `{0}`")]
    MissingField(&'static str),
    /// `timestamp` is not a decimal integer.
    #[error("timestamp is not a decimal integer")]
    BadTimestamp,
    /// `timestamp` is further from `now` than the allowed skew (replay protection).
    #[error("timestamp {timestamp} is more than {max_skew_secs}s away from now ({now})")]
    StaleTimestamp {
        timestamp: i64,
        now: i64,
        max_skew_secs: u64,
    },
    /// The request body is larger than the configured limit.
    #[error("body of {len} bytes exceeds the {limit}-byte limit")]
    BodyTooLarge { len: usize, limit: usize },
    /// The EncodingAESKey is malformed (the reason never includes the key).
    #[error("invalid EncodingAESKey: {0}")]
    BadAesKey(&'static str),
    /// The push is encrypted (`encrypt_type=aes`) but no EncodingAESKey is configured.
    #[error("encrypted push but no EncodingAESKey is configured for this account")]
    NoAesKey,
    /// A plaintext push to an account with an EncodingAESKey (compat or safe mode).
    #[error("plaintext push refused: the account takes encrypted pushes only")]
    PlaintextRefused,
    /// `encrypt_type` is neither absent, `raw` nor `aes`.
    #[error("unsupported encrypt_type `{0}`")]
    UnsupportedEncryptType(String),
    /// The `Encrypt` value is not valid base64.
    #[error("Encrypt is not valid base64")]
    BadBase64,
    /// PKCS#7 padding (block size 32) is invalid after decryption.
    #[error("invalid PKCS#7 padding")]
    BadPadding,
    /// Ciphertext or decrypted plaintext is too short or inconsistent with its length prefix.
    #[error("ciphertext or plaintext truncated")]
    Truncated,
    /// The appid at the end of the decrypted plaintext is not ours.
    #[error("appid in the decrypted message does not match")]
    AppIdMismatch,
    /// Body, decrypted message or appid is not valid UTF-8.
    #[error("not valid UTF-8")]
    BadUtf8,
    /// The XML could not be parsed.
    #[error("malformed XML: {0}")]
    BadXml(String),
    /// The JSON body could not be parsed.
    #[error("malformed JSON: {0}")]
    BadJson(String),
    /// A field that must be an integer (CreateTime, MsgID, ErrorCode…) is not one.
    #[error("field `{0}` is not a valid integer")]
    BadNumber(&'static str),
}
