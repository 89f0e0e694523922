//! Secrets at rest: AES-256-GCM under a master key, and the master key's file.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use crate::{Error, Result};

/// The environment variable holding the master key itself.
pub const KEY_VAR: &str = "WXPUSH_MASTER_KEY";
/// The environment variable naming the master key file.
pub const KEY_FILE_VAR: &str = "WXPUSH_MASTER_KEY_FILE";
/// What a malformed key is told it should be.
pub const KEY_FORMAT: &str =
    "64 hex characters or the base64 of 32 bytes (generate one with `openssl rand -hex 32`)";

/// Every stored ciphertext starts with this; WeChat credentials never contain a colon, so a
/// value without it is plaintext from an earlier version.
const V1: &str = "v1:";
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// The 32-byte master key. Zeroized on drop; deliberately neither `Debug` nor `Serialize`.
#[derive(Clone)]
pub struct MasterKey(Box<[u8; 32]>);

impl Drop for MasterKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl MasterKey {
    /// A new random key.
    pub fn generate() -> Self {
        let mut bytes = Box::new([0u8; 32]);
        rand::fill(&mut bytes[..]);
        MasterKey(bytes)
    }

    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        let mut bytes = Zeroizing::new(bytes);
        MasterKey(Box::new(std::mem::take(&mut *bytes)))
    }

    /// A fixed, publicly known key for tests and examples (`Engine::open`). It protects nothing:
    /// the binary never uses it.
    pub fn insecure_development_key() -> Self {
        Self::from_bytes(Sha256::digest(b"wxpush insecure development master key").into())
    }

    /// Parses the text form: 64 hex characters, or standard/URL-safe base64 (padded or not) of
    /// exactly 32 bytes. The error never repeats the input.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err(format!("empty; expected {KEY_FORMAT}"));
        }
        let mut bytes = Zeroizing::new([0u8; 32]);
        if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode_to_slice(text, &mut bytes[..])
                .map_err(|_| format!("not valid hex; expected {KEY_FORMAT}"))?;
            return Ok(Self::from_bytes(*bytes));
        }
        for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
            if let Ok(decoded) = engine.decode(text).map(Zeroizing::new) {
                if decoded.len() == 32 {
                    bytes.copy_from_slice(&decoded);
                    return Ok(Self::from_bytes(*bytes));
                }
                return Err(format!(
                    "decodes to {} bytes, not 32; expected {KEY_FORMAT}",
                    decoded.len()
                ));
            }
        }
        Err(format!(
            "{} characters that are neither hex nor base64; expected {KEY_FORMAT}",
            text.chars().count()
        ))
    }

    /// The text form written to key files and printed by `wxpush keys rotate`.
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(&self.0[..]))
    }

    /// A short public fingerprint (8 hex characters of a hash of the key) stored with every
    /// ciphertext, so that a wrong key is reported as such. It reveals nothing about the key.
    pub fn id(&self) -> String {
        let mut hash = Sha256::new();
        hash.update(b"wxpush master key id\0");
        hash.update(&self.0[..]);
        hex::encode(&hash.finalize()[..4])
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new((&*self.0).into())
    }

    /// Encrypts `plaintext` bound to `aad` (where it is stored, e.g. `accounts.7.secret`):
    /// `v1:<key id>:<base64(nonce ‖ ciphertext ‖ tag)>`, with a random 96-bit nonce.
    pub fn encrypt(&self, plaintext: &str, aad: &str) -> Result<String> {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let sealed = self
            .cipher()
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| Error::Internal(format!("cannot encrypt {aad}")))?;
        let mut blob = Vec::with_capacity(NONCE_LEN + sealed.len());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&sealed);
        Ok(format!("{V1}{}:{}", self.id(), STANDARD.encode(blob)))
    }

    /// Decrypts a value made by [`MasterKey::encrypt`] with the same `aad`. A value under another
    /// key is [`Error::WrongMasterKey`]; anything else that does not authenticate (altered, moved
    /// from another row or column, truncated, plaintext) is [`Error::SecretUnreadable`].
    pub fn decrypt(&self, stored: &str, aad: &str) -> Result<String> {
        let unreadable = |why: &str| Error::SecretUnreadable(format!("{aad}: {why}"));
        let Some(rest) = stored.strip_prefix(V1) else {
            return Err(unreadable("stored unencrypted"));
        };
        let Some((key_id, body)) = rest.split_once(':') else {
            return Err(unreadable("malformed"));
        };
        let current = self.id();
        if key_id != current {
            return Err(Error::WrongMasterKey {
                stored: key_id.chars().take(16).collect(),
                current,
            });
        }
        let blob = STANDARD.decode(body).map_err(|_| unreadable("malformed"))?;
        if blob.len() < NONCE_LEN + TAG_LEN {
            return Err(unreadable("truncated"));
        }
        let (nonce, sealed) = blob.split_at(NONCE_LEN);
        let plain = self
            .cipher()
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| unreadable("altered, or moved from another row or column"))?;
        String::from_utf8(plain).map_err(|_| unreadable("not text"))
    }
}

/// The engine's key; its `Debug` shows the key id only.
pub(crate) struct HeldKey(pub(crate) MasterKey);

impl std::fmt::Debug for HeldKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey(id {})", self.0.id())
    }
}

impl crate::Engine {
    /// The key the account secrets are encrypted under.
    pub(crate) fn master_key(&self) -> &MasterKey {
        &self.inner.master_key.0
    }

    /// The id of the key the account secrets are encrypted under.
    pub fn master_key_id(&self) -> String {
        self.master_key().id()
    }
}

/// True when `stored` is a ciphertext (of any key), false for plaintext from earlier versions.
pub fn is_encrypted(stored: &str) -> bool {
    stored.starts_with(V1)
}

/// The key id a ciphertext was made under.
pub fn key_id_of(stored: &str) -> Option<&str> {
    stored.strip_prefix(V1)?.split_once(':').map(|(id, _)| id)
}

/// Reads a key file: it must hold one key in the text form and be readable by its owner only.
pub fn read_key_file(path: &Path) -> Result<MasterKey> {
    let shown = path.display();
    let mut file = File::open(path).map_err(|e| {
        Error::Config(format!(
            "cannot read the master key file {shown} ({KEY_FILE_VAR}): {e}"
        ))
    })?;
    let meta = file
        .metadata()
        .map_err(|e| Error::Config(format!("cannot read the master key file {shown}: {e}")))?;
    if !meta.is_file() {
        return Err(Error::Config(format!(
            "the master key file {shown} ({KEY_FILE_VAR}) is not a regular file"
        )));
    }
    check_private(path, &meta)?;
    let mut text = Zeroizing::new(String::new());
    (&mut file)
        .take(1024)
        .read_to_string(&mut text)
        .map_err(|e| {
            Error::Config(format!(
                "the master key file {shown} is not a master key ({e}); expected {KEY_FORMAT}"
            ))
        })?;
    MasterKey::parse(&text).map_err(|why| {
        Error::Config(format!(
            "the master key file {shown} is not a master key: {why}"
        ))
    })
}

#[cfg(unix)]
fn check_private(path: &Path, meta: &fs::Metadata) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(Error::Config(format!(
            "the master key file {shown} is accessible to other users (mode {mode:04o}); \
             run `chmod 600 {shown}` and start again",
            shown = path.display()
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path, _meta: &fs::Metadata) -> Result<()> {
    Ok(())
}

/// The key in `path`, creating the file (and its folder) with a new random key on first start.
/// Returns whether it was created. Safe against several processes starting at once: the file
/// appears complete or not at all.
pub fn load_or_create_key_file(path: &Path) -> Result<(MasterKey, bool)> {
    match fs::symlink_metadata(path) {
        Ok(_) => return read_key_file(path).map(|k| (k, false)),
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => {
            return Err(Error::Config(format!(
                "cannot read the master key file {}: {e}",
                path.display()
            )))
        }
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(|e| {
            Error::Config(format!(
                "cannot create the folder of the master key file {}: {e}",
                path.display()
            ))
        })?;
    }
    let key = MasterKey::generate();
    let tmp = sibling(
        path,
        &format!("tmp-{}", hex::encode(rand::random::<[u8; 6]>())),
    );
    write_private(&tmp, &key)?;
    // A hard link never replaces an existing file: whoever links first wins, the others read it.
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            sync_dir(path);
            Ok((key, true))
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => read_key_file(path).map(|k| (k, false)),
        Err(e) => Err(Error::Config(format!(
            "cannot create the master key file {}: {e}",
            path.display()
        ))),
    }
}

/// `path` with `.suffix` appended to its file name.
pub fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".");
    name.push(suffix);
    path.with_file_name(name)
}

/// Writes `key` to a new file (never an existing one) that only its owner can read, flushed to
/// disk.
fn write_private(path: &Path, key: &MasterKey) -> Result<()> {
    let fail = |e: std::io::Error| {
        Error::Config(format!(
            "cannot write the master key file {}: {e}",
            path.display()
        ))
    };
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(fail)?;
    let mut line = key.to_hex();
    line.push('\n');
    file.write_all(line.as_bytes()).map_err(fail)?;
    file.sync_all().map_err(fail)
}

fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(dir) = File::open(dir) {
            let _ = dir.sync_all();
        }
    }
}

/// Replacing a key file during `wxpush keys rotate`: the new key waits in `<file>.new` and the
/// current one is kept as `<file>.old` until the database is known to open with the new key.
pub struct KeyFileRotation {
    path: PathBuf,
    new_path: PathBuf,
    old_path: PathBuf,
}

impl KeyFileRotation {
    /// Writes `<file>.new` (the new key) and `<file>.old` (a copy of the current file). Refuses
    /// when either exists: an earlier rotation was interrupted and must be sorted out first.
    pub fn prepare(path: &Path, new_key: &MasterKey) -> Result<Self> {
        let rotation = KeyFileRotation {
            path: path.to_owned(),
            new_path: sibling(path, "new"),
            old_path: sibling(path, "old"),
        };
        for leftover in [&rotation.new_path, &rotation.old_path] {
            if fs::symlink_metadata(leftover).is_ok() {
                return Err(Error::Config(format!(
                    "{} is left over from an interrupted key rotation: find out which key opens \
                     the database (start wxpush with {KEY_FILE_VAR} pointing at each file), keep \
                     that one as {} and remove the others before rotating again",
                    leftover.display(),
                    path.display()
                )));
            }
        }
        let current = read_key_file(path)?;
        write_private(&rotation.new_path, new_key)?;
        if let Err(e) = write_private(&rotation.old_path, &current) {
            let _ = fs::remove_file(&rotation.new_path);
            return Err(e);
        }
        sync_dir(path);
        Ok(rotation)
    }

    /// Moves the new key into place (an atomic rename). The backup stays.
    pub fn install(&self) -> Result<()> {
        fs::rename(&self.new_path, &self.path).map_err(|e| {
            Error::Config(format!(
                "the database now uses the key in {} but it could not be moved to {}: {e}; \
                 move it there by hand",
                self.new_path.display(),
                self.path.display()
            ))
        })?;
        sync_dir(&self.path);
        Ok(())
    }

    /// Success is certain: removes the backup.
    pub fn finish(self) -> Result<()> {
        fs::remove_file(&self.old_path).map_err(|e| {
            Error::Config(format!(
                "rotation done, but the old key {} could not be removed: {e}; delete it",
                self.old_path.display()
            ))
        })?;
        sync_dir(&self.path);
        Ok(())
    }

    /// The database was not changed: removes both the new key and the backup.
    pub fn abort(self) {
        let _ = fs::remove_file(&self.new_path);
        let _ = fs::remove_file(&self.old_path);
    }

    pub fn old_path(&self) -> &Path {
        &self.old_path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_binding() {
        let key = MasterKey::generate();
        let a = key
            .encrypt("0123456789abcdef", "accounts.1.secret")
            .unwrap();
        let b = key
            .encrypt("0123456789abcdef", "accounts.1.secret")
            .unwrap();
        assert_ne!(a, b, "a fresh nonce per value");
        assert!(a.starts_with(&format!("v1:{}:", key.id())));
        assert!(!a.contains("0123456789abcdef"));
        assert_eq!(
            key.decrypt(&a, "accounts.1.secret").unwrap(),
            "0123456789abcdef"
        );
        assert!(matches!(
            key.decrypt(&a, "accounts.2.secret"),
            Err(Error::SecretUnreadable(_))
        ));
        assert!(matches!(
            key.decrypt(&a, "accounts.1.callback_token"),
            Err(Error::SecretUnreadable(_))
        ));
        let other = MasterKey::generate();
        match other.decrypt(&a, "accounts.1.secret") {
            Err(Error::WrongMasterKey { stored, current }) => {
                assert_eq!(stored, key.id());
                assert_eq!(current, other.id());
            }
            r => panic!("expected a wrong-key error, got {:?}", r.map(|_| ())),
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let key = MasterKey::generate();
        let id = key.id();
        for stored in [
            String::new(),
            "plain".into(),
            "v1:".into(),
            "v1:abc".into(),
            format!("v1:{id}:"),
            format!("v1:{id}:!!!"),
            format!("v1:{id}:AAAA"),
            format!("v1:{id}:{}", STANDARD.encode([0u8; 40])),
            format!("v1:{id}:{}", "A".repeat(10_000)),
        ] {
            assert!(
                key.decrypt(&stored, "accounts.1.secret").is_err(),
                "{stored}"
            );
        }
        let good = key.encrypt("x", "a").unwrap();
        let mut tampered = good.clone().into_bytes();
        let last = tampered.len() - 3;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert!(matches!(
            key.decrypt(&tampered, "a"),
            Err(Error::SecretUnreadable(_))
        ));
    }

    #[test]
    fn key_text_forms() {
        let key = MasterKey::generate();
        let hex = key.to_hex();
        assert_eq!(MasterKey::parse(&hex).unwrap().id(), key.id());
        assert_eq!(
            MasterKey::parse(&hex.to_uppercase()).unwrap().id(),
            key.id()
        );
        let b64 = STANDARD.encode(&key.0[..]);
        assert_eq!(MasterKey::parse(&b64).unwrap().id(), key.id());
        assert_eq!(
            MasterKey::parse(&format!("  {b64}\n")).unwrap().id(),
            key.id()
        );
        assert_eq!(
            MasterKey::parse(&URL_SAFE_NO_PAD.encode(&key.0[..]))
                .unwrap()
                .id(),
            key.id()
        );
        for bad in [
            "",
            "abc",
            &hex[..62],
            &STANDARD.encode([1u8; 16]),
            "é".repeat(64).as_str(),
        ] {
            let err = MasterKey::parse(bad).err().expect(bad);
            assert!(err.contains("64 hex characters"), "{err}");
            assert!(bad.len() < 8 || !err.contains(bad), "never echoes the key");
        }
        assert_ne!(MasterKey::insecure_development_key().id(), key.id());
    }
}
