//! Safe-mode message crypto (`wechat-api.md` §4.3): EncodingAESKey, AES-256-CBC with PKCS#7/32, encrypted replies.
//!
//! Plaintext layout: `random(16) || msg_len (u32 BE) || msg || appid`, padded with PKCS#7 to a
//! multiple of 32 bytes, encrypted with AES-256-CBC (key = AESKey, IV = first 16 key bytes),
//! sent as standard base64 with padding.

use std::fmt;

use aes::cipher::generic_array::GenericArray;
use aes::cipher::{BlockDecrypt, BlockEncrypt, KeyInit};
use aes::{Aes256, Block};
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use rand::Rng as _;

use super::error::CallbackError;
use super::signature::{constant_time_eq, msg_signature};

/// Length of an EncodingAESKey as shown in the WeChat admin console.
pub const ENCODING_AES_KEY_LEN: usize = 43;
/// WeChat pads with PKCS#7 to a multiple of 32 bytes (not the AES block size).
pub const PAD_BLOCK: usize = 32;
const AES_BLOCK: usize = 16;
const RANDOM_LEN: usize = 16;
const HEADER_LEN: usize = RANDOM_LEN + 4;

/// Lenient decoding, as Go/Python/PHP do: most EncodingAESKeys have non-zero trailing bits.
const KEY_ENGINE: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);
/// For `Encrypt`: standard alphabet, padding optional, trailing bits tolerated.
const CIPHERTEXT_ENGINE: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The 32-byte AES key derived from an EncodingAESKey. `Debug` never shows the key.
#[derive(Clone)]
pub struct AesKey([u8; 32]);

impl PartialEq for AesKey {
    fn eq(&self, other: &Self) -> bool {
        constant_time_eq(&self.0, &other.0)
    }
}

impl Eq for AesKey {}

impl AesKey {
    /// Parses the 43-character EncodingAESKey: `[A-Za-z0-9]{43}`, base64-decoded after
    /// appending `=`, non-zero trailing bits allowed (only 1 key in 4 is canonical base64).
    pub fn from_encoding_aes_key(encoding_aes_key: &str) -> Result<Self, CallbackError> {
        if encoding_aes_key.len() != ENCODING_AES_KEY_LEN {
            return Err(CallbackError::BadAesKey("must be 43 characters"));
        }
        if !encoding_aes_key.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(CallbackError::BadAesKey(
                "must contain only the characters A-Z, a-z and 0-9",
            ));
        }
        let mut padded = String::with_capacity(ENCODING_AES_KEY_LEN + 1);
        padded.push_str(encoding_aes_key);
        padded.push('=');
        let bytes = KEY_ENGINE
            .decode(padded.as_bytes())
            .map_err(|_| CallbackError::BadAesKey("not valid base64"))?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| CallbackError::BadAesKey("does not decode to 32 bytes"))?;
        Ok(Self(key))
    }

    /// Wraps raw key bytes.
    pub fn from_bytes(key: [u8; 32]) -> Self {
        Self(key)
    }

    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn iv(&self) -> [u8; AES_BLOCK] {
        let mut iv = [0u8; AES_BLOCK];
        iv.copy_from_slice(&self.0[..AES_BLOCK]);
        iv
    }

    fn cipher(&self) -> Aes256 {
        Aes256::new(&GenericArray::from(self.0))
    }
}

impl fmt::Debug for AesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AesKey(<redacted>)")
    }
}

/// Everything inside a decrypted `Encrypt` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decrypted {
    /// The 16 random bytes at the start of the plaintext.
    pub random: [u8; 16],
    /// The message (XML or JSON text).
    pub msg: String,
    /// The trailing appid (corp id for WeCom).
    pub appid: String,
}

/// Decrypts `Encrypt` and checks that the trailing appid equals `expected_appid`;
/// returns the message. Verify the `msg_signature` before calling this.
pub fn decrypt(
    key: &AesKey,
    encrypt_b64: &str,
    expected_appid: &str,
) -> Result<String, CallbackError> {
    let decrypted = decrypt_message(key, encrypt_b64)?;
    if decrypted.appid != expected_appid {
        return Err(CallbackError::AppIdMismatch);
    }
    Ok(decrypted.msg)
}

/// Decrypts `Encrypt` without checking the appid (the caller must check [`Decrypted::appid`]).
pub fn decrypt_message(key: &AesKey, encrypt_b64: &str) -> Result<Decrypted, CallbackError> {
    let mut data = CIPHERTEXT_ENGINE
        .decode(encrypt_b64.as_bytes())
        .map_err(|_| CallbackError::BadBase64)?;
    if data.is_empty() || data.len() % AES_BLOCK != 0 {
        return Err(CallbackError::Truncated);
    }
    cbc_decrypt(key, &mut data);
    let plain = unpad(&data)?;
    parse_plaintext(plain)
}

/// Encrypts with the given 16 random bytes: deterministic, for tests and vectors.
/// `msg` must be shorter than 4 GiB (its length is a u32).
pub fn encrypt_with_random(key: &AesKey, random: &[u8; 16], msg: &str, appid: &str) -> String {
    let msg_len = u32::try_from(msg.len()).unwrap_or(u32::MAX);
    let mut plain = Vec::with_capacity(HEADER_LEN + msg.len() + appid.len() + PAD_BLOCK);
    plain.extend_from_slice(random);
    plain.extend_from_slice(&msg_len.to_be_bytes());
    plain.extend_from_slice(msg.as_bytes());
    plain.extend_from_slice(appid.as_bytes());
    pad(&mut plain);
    cbc_encrypt(key, &mut plain);
    STANDARD.encode(plain)
}

/// Encrypts with 16 fresh random alphanumeric bytes (as the official SDKs do).
pub fn encrypt(key: &AesKey, msg: &str, appid: &str) -> String {
    encrypt_with_random(key, &random16(), msg, appid)
}

fn random16() -> [u8; 16] {
    let mut rng = rand::rng();
    let mut random = [0u8; 16];
    for b in &mut random {
        *b = rng.sample(rand::distr::Alphanumeric);
    }
    random
}

/// An encrypted passive reply: the four fields of the reply XML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedReply {
    pub encrypt: String,
    pub msg_signature: String,
    pub timestamp: String,
    pub nonce: String,
}

impl EncryptedReply {
    /// Encrypts `msg` with the given random bytes (deterministic) and signs it.
    pub fn with_random(
        key: &AesKey,
        token: &str,
        appid: &str,
        msg: &str,
        timestamp: &str,
        nonce: &str,
        random: &[u8; 16],
    ) -> Self {
        let encrypt = encrypt_with_random(key, random, msg, appid);
        let msg_signature = msg_signature(token, timestamp, nonce, &encrypt);
        Self {
            encrypt,
            msg_signature,
            timestamp: timestamp.to_owned(),
            nonce: nonce.to_owned(),
        }
    }

    /// Encrypts `msg` with fresh random bytes and signs it.
    pub fn new(
        key: &AesKey,
        token: &str,
        appid: &str,
        msg: &str,
        timestamp: &str,
        nonce: &str,
    ) -> Self {
        Self::with_random(key, token, appid, msg, timestamp, nonce, &random16())
    }

    /// `<xml><Encrypt/><MsgSignature/><TimeStamp/><Nonce/></xml>` as WeChat expects it.
    pub fn to_xml(&self) -> String {
        format!(
            "<xml><Encrypt>{}</Encrypt><MsgSignature>{}</MsgSignature><TimeStamp>{}</TimeStamp><Nonce>{}</Nonce></xml>",
            cdata(&self.encrypt),
            cdata(&self.msg_signature),
            quick_xml::escape::escape(self.timestamp.as_str()),
            cdata(&self.nonce),
        )
    }
}

/// Builds the encrypted passive-reply XML for `msg` (fresh random bytes).
pub fn encrypted_reply_xml(
    key: &AesKey,
    token: &str,
    appid: &str,
    msg: &str,
    timestamp: &str,
    nonce: &str,
) -> String {
    EncryptedReply::new(key, token, appid, msg, timestamp, nonce).to_xml()
}

/// Wraps text in CDATA, splitting any `]]>` so the section cannot be closed early.
fn cdata(text: &str) -> String {
    format!("<![CDATA[{}]]>", text.replace("]]>", "]]]]><![CDATA[>"))
}

/// PKCS#7 padding to a multiple of 32: always 1..=32 bytes of value n.
fn pad(data: &mut Vec<u8>) {
    let n = PAD_BLOCK - data.len() % PAD_BLOCK;
    // n is in 1..=32, so it fits in a u8.
    let byte = u8::try_from(n).unwrap_or(PAD_BLOCK as u8);
    data.resize(data.len() + n, byte);
}

/// Strips PKCS#7 padding; accepts n in 1..=32 with all n bytes equal to n.
fn unpad(data: &[u8]) -> Result<&[u8], CallbackError> {
    let Some(&last) = data.last() else {
        return Err(CallbackError::Truncated);
    };
    let n = usize::from(last);
    if n == 0 || n > PAD_BLOCK || n > data.len() {
        return Err(CallbackError::BadPadding);
    }
    let (plain, padding) = data.split_at(data.len() - n);
    if padding.iter().any(|&b| b != last) {
        return Err(CallbackError::BadPadding);
    }
    Ok(plain)
}

fn parse_plaintext(plain: &[u8]) -> Result<Decrypted, CallbackError> {
    if plain.len() < HEADER_LEN {
        return Err(CallbackError::Truncated);
    }
    let mut random = [0u8; RANDOM_LEN];
    random.copy_from_slice(&plain[..RANDOM_LEN]);
    let mut len_bytes = [0u8; 4];
    len_bytes.copy_from_slice(&plain[RANDOM_LEN..HEADER_LEN]);
    let msg_len =
        usize::try_from(u32::from_be_bytes(len_bytes)).map_err(|_| CallbackError::Truncated)?;
    let rest = &plain[HEADER_LEN..];
    if msg_len > rest.len() {
        return Err(CallbackError::Truncated);
    }
    let (msg, appid) = rest.split_at(msg_len);
    let msg = std::str::from_utf8(msg).map_err(|_| CallbackError::BadUtf8)?;
    let appid = std::str::from_utf8(appid).map_err(|_| CallbackError::BadUtf8)?;
    Ok(Decrypted {
        random,
        msg: msg.to_owned(),
        appid: appid.to_owned(),
    })
}

/// AES-256-CBC encryption in place; `data.len()` must be a multiple of 16 (guaranteed by `pad`).
fn cbc_encrypt(key: &AesKey, data: &mut [u8]) {
    let cipher = key.cipher();
    let mut prev = key.iv();
    for chunk in data.chunks_exact_mut(AES_BLOCK) {
        for (b, p) in chunk.iter_mut().zip(prev.iter()) {
            *b ^= p;
        }
        cipher.encrypt_block(Block::from_mut_slice(chunk));
        prev.copy_from_slice(chunk);
    }
}

/// AES-256-CBC decryption in place; a trailing partial block (if any) is left untouched.
fn cbc_decrypt(key: &AesKey, data: &mut [u8]) {
    let cipher = key.cipher();
    let mut prev = key.iv();
    for chunk in data.chunks_exact_mut(AES_BLOCK) {
        let mut saved = [0u8; AES_BLOCK];
        saved.copy_from_slice(chunk);
        cipher.decrypt_block(Block::from_mut_slice(chunk));
        for (b, p) in chunk.iter_mut().zip(prev.iter()) {
            *b ^= p;
        }
        prev = saved;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
    const APPID: &str = "wxb11529c136998cb6";

    fn key() -> AesKey {
        AesKey::from_encoding_aes_key(KEY).unwrap()
    }

    /// Encrypts raw plaintext bytes (no padding added) — to build malformed ciphertexts.
    fn encrypt_raw(key: &AesKey, plain: &[u8]) -> String {
        assert_eq!(plain.len() % AES_BLOCK, 0);
        let mut data = plain.to_vec();
        cbc_encrypt(key, &mut data);
        STANDARD.encode(data)
    }

    fn padded(mut plain: Vec<u8>) -> Vec<u8> {
        pad(&mut plain);
        plain
    }

    fn layout(random: &[u8; 16], msg_len: u32, msg: &[u8], appid: &[u8]) -> Vec<u8> {
        let mut v = random.to_vec();
        v.extend_from_slice(&msg_len.to_be_bytes());
        v.extend_from_slice(msg);
        v.extend_from_slice(appid);
        v
    }

    #[test]
    fn key_from_bytes_round_trip_and_debug_is_redacted() {
        let k = key();
        assert_eq!(
            k.as_bytes().to_vec(),
            [
                0x69, 0xb7, 0x1d, 0x79, 0xf8, 0x21, 0x8a, 0x39, 0x25, 0x9a, 0x7a, 0x29, 0xaa, 0xbb,
                0x2d, 0xba, 0xfc, 0x31, 0xcb, 0x3d, 0x35, 0xdb, 0x7e, 0x39, 0xeb, 0xbf, 0x3d, 0x00,
                0x10, 0x83, 0x10, 0x51
            ]
        );
        assert_eq!(AesKey::from_bytes(*k.as_bytes()), k);
        let dbg = format!("{k:?}");
        assert_eq!(dbg, "AesKey(<redacted>)");
        assert!(!dbg.contains("69b7"));
        assert!(!format!("{:?}", AesKey::from_bytes([0x41; 32])).contains("65"));
    }

    #[test]
    fn non_canonical_keys_are_accepted() {
        // Both have non-zero trailing bits in the last symbol (wechat-api.md §4.3).
        assert!(STANDARD.decode(format!("{KEY}=")).is_err());
        assert!(AesKey::from_encoding_aes_key(KEY).is_ok());
        let wecom = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR";
        assert!(STANDARD.decode(format!("{wecom}=")).is_err());
        assert!(AesKey::from_encoding_aes_key(wecom).is_ok());
        // Canonical key: 43 × 'A' = 32 zero bytes.
        let zero = AesKey::from_encoding_aes_key(&"A".repeat(43)).unwrap();
        assert_eq!(zero.as_bytes(), &[0u8; 32]);
    }

    #[test]
    fn bad_keys_are_rejected() {
        let bad = [
            &KEY[..42],                                     // 42 chars
            "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH", // 44 chars
            "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF+",  // '+'
            "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF/",  // '/'
            "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF=",  // '='
            "abcdefghijklmnopqrstuvwxyz0123456789ABCDE G",  // space
            "",
        ];
        for k in bad {
            assert!(
                matches!(
                    AesKey::from_encoding_aes_key(k),
                    Err(CallbackError::BadAesKey(_))
                ),
                "{k:?}"
            );
        }
        // 43 bytes but non-ASCII (multi-byte chars) must not panic.
        let mut s = "é".to_string();
        s.push_str(&KEY[..41]);
        assert_eq!(s.len(), 43);
        assert!(matches!(
            AesKey::from_encoding_aes_key(&s),
            Err(CallbackError::BadAesKey(_))
        ));
    }

    #[test]
    fn padding_is_pkcs7_with_block_32() {
        for len in 0..100usize {
            let mut v = vec![7u8; len];
            pad(&mut v);
            assert_eq!(v.len() % 32, 0);
            let n = v.len() - len;
            assert!((1..=32).contains(&n));
            assert!(v[len..].iter().all(|&b| usize::from(b) == n));
            assert_eq!(unpad(&v).unwrap().len(), len);
        }
    }

    #[test]
    fn round_trip_various_lengths() {
        let k = key();
        for len in [0usize, 1, 11, 12, 13, 44, 45, 100, 1000] {
            let msg = "x".repeat(len);
            let enc = encrypt(&k, &msg, APPID);
            assert_eq!(decrypt(&k, &enc, APPID).unwrap(), msg);
            let full = decrypt_message(&k, &enc).unwrap();
            assert!(full.random.iter().all(u8::is_ascii_alphanumeric));
        }
        // Fresh random bytes: two encryptions differ.
        assert_ne!(encrypt(&k, "a", APPID), encrypt(&k, "a", APPID));
    }

    #[test]
    fn wrong_appid_is_rejected() {
        let k = key();
        let enc = encrypt(&k, "<xml/>", APPID);
        assert_eq!(
            decrypt(&k, &enc, "wx0000000000000000"),
            Err(CallbackError::AppIdMismatch)
        );
        assert_eq!(decrypt(&k, &enc, ""), Err(CallbackError::AppIdMismatch));
    }

    #[test]
    fn wrong_key_fails_without_panic() {
        let enc = encrypt(&key(), "<xml>hello</xml>", APPID);
        let other = AesKey::from_bytes([9u8; 32]);
        assert!(decrypt(&other, &enc, APPID).is_err());
    }

    #[test]
    fn bad_padding_zero_and_over_32() {
        let k = key();
        let r = *b"0123456789abcdef";
        // 64 bytes of layout + pad byte 0.
        let mut plain = layout(&r, 5, b"hello", APPID.as_bytes());
        plain.resize(64, 0);
        assert_eq!(
            decrypt(&k, &encrypt_raw(&k, &plain), APPID),
            Err(CallbackError::BadPadding)
        );
        // Pad value 33 (> 32) repeated 33 times.
        let mut plain = layout(&r, 5, b"hello", APPID.as_bytes());
        plain.resize(96 - 33, b'z');
        plain.resize(96, 33);
        assert_eq!(
            decrypt(&k, &encrypt_raw(&k, &plain), APPID),
            Err(CallbackError::BadPadding)
        );
        // Pad value 255.
        let mut plain = layout(&r, 5, b"hello", APPID.as_bytes());
        plain.resize(64, 255);
        assert_eq!(
            decrypt(&k, &encrypt_raw(&k, &plain), APPID),
            Err(CallbackError::BadPadding)
        );
        // Inconsistent padding bytes (last says 4, others differ).
        let mut plain = layout(&r, 5, b"hello", APPID.as_bytes());
        plain.resize(60, b'z');
        plain.extend_from_slice(&[1, 4, 4, 4]);
        assert_eq!(
            decrypt(&k, &encrypt_raw(&k, &plain), APPID),
            Err(CallbackError::BadPadding)
        );
        // Pad of exactly 32 (a whole block) is fine: 20 + 26 + 18 = 64 bytes, then 32 × 32.
        let msg = "m".repeat(26);
        let mut plain = layout(&r, 26, msg.as_bytes(), APPID.as_bytes());
        assert_eq!(plain.len(), 64);
        plain.resize(96, 32);
        assert_eq!(decrypt(&k, &encrypt_raw(&k, &plain), APPID).unwrap(), msg);
    }

    #[test]
    fn pad_of_one_is_accepted() {
        let k = key();
        let r = *b"0123456789abcdef";
        // 20 + 18 = 38 → fill msg so the total is 63, then pad 1.
        let msg = "m".repeat(63 - 38);
        let mut plain = layout(
            &r,
            u32::try_from(msg.len()).unwrap(),
            msg.as_bytes(),
            APPID.as_bytes(),
        );
        assert_eq!(plain.len(), 63);
        plain.push(1);
        assert_eq!(decrypt(&k, &encrypt_raw(&k, &plain), APPID).unwrap(), msg);
    }

    #[test]
    fn truncated_ciphertexts() {
        let k = key();
        let enc = encrypt(&k, "<xml>hello</xml>", APPID);
        let raw = STANDARD.decode(&enc).unwrap();
        // Not a multiple of 16.
        for cut in [1usize, 15, 17, 31] {
            let short = STANDARD.encode(&raw[..raw.len() - cut]);
            assert_eq!(decrypt(&k, &short, APPID), Err(CallbackError::Truncated));
        }
        // Empty.
        assert_eq!(decrypt(&k, "", APPID), Err(CallbackError::Truncated));
        // Plaintext shorter than 20 bytes after unpadding: 10 bytes + 22 pad.
        let short_plain = padded(b"0123456789".to_vec());
        assert_eq!(short_plain.len(), 32);
        assert_eq!(
            decrypt(&k, &encrypt_raw(&k, &short_plain), APPID),
            Err(CallbackError::Truncated)
        );
        // 19 bytes + 13 pad.
        let short_plain = padded(vec![b'a'; 19]);
        assert_eq!(
            decrypt(&k, &encrypt_raw(&k, &short_plain), APPID),
            Err(CallbackError::Truncated)
        );
        // msg_len longer than the data.
        let r = *b"0123456789abcdef";
        for claimed in [5u32 + 18 + 1, 1000, u32::MAX] {
            let plain = padded(layout(&r, claimed, b"hello", APPID.as_bytes()));
            assert_eq!(
                decrypt(&k, &encrypt_raw(&k, &plain), APPID),
                Err(CallbackError::Truncated),
                "{claimed}"
            );
        }
        // msg_len that eats into the appid: the appid then mismatches.
        let plain = padded(layout(&r, 7, b"hello", APPID.as_bytes()));
        assert_eq!(
            decrypt(&k, &encrypt_raw(&k, &plain), APPID),
            Err(CallbackError::AppIdMismatch)
        );
    }

    #[test]
    fn invalid_base64() {
        let k = key();
        for bad in ["!!!!", "abc$", "YWJj\nZGVm", "====", "a", "€€€€"] {
            assert_eq!(
                decrypt(&k, bad, APPID),
                Err(CallbackError::BadBase64),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn invalid_utf8_message() {
        let k = key();
        let r = *b"0123456789abcdef";
        let plain = padded(layout(&r, 2, &[0xff, 0xfe], APPID.as_bytes()));
        assert_eq!(
            decrypt(&k, &encrypt_raw(&k, &plain), APPID),
            Err(CallbackError::BadUtf8)
        );
    }

    #[test]
    fn reply_xml_shape_and_cdata_escaping() {
        let k = key();
        let reply = EncryptedReply::with_random(
            &k,
            "tok",
            APPID,
            "hi",
            "123",
            "n]]>x",
            b"aaaabbbbccccdddd",
        );
        let xml = reply.to_xml();
        assert!(xml.starts_with("<xml><Encrypt><![CDATA["));
        assert!(xml.contains("<TimeStamp>123</TimeStamp>"));
        assert!(xml.contains("<Nonce><![CDATA[n]]]]><![CDATA[>x]]></Nonce>"));
        assert_eq!(
            reply.msg_signature,
            msg_signature("tok", "123", "n]]>x", &reply.encrypt)
        );
        let xml = encrypted_reply_xml(&k, "tok", APPID, "hi", "123", "456");
        assert!(xml.contains("<MsgSignature><![CDATA["));
        assert!(xml.ends_with("<Nonce><![CDATA[456]]></Nonce></xml>"));
    }
}
