//! Storage-free ids: fast hashes, keyed permutations and a reversible openid/unionid codec.

/// URL-safe base64 alphabet: real openids use letters, digits, `-` and `_`.
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// SplitMix64 finaliser: a fast, well-mixed 64-bit hash of one word.
pub fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Hash of two words.
pub fn hash2(a: u64, b: u64) -> u64 {
    mix(a ^ mix(b).rotate_left(17))
}

/// Hash of a string (FNV-1a folded through `mix`).
pub fn hash_str(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    mix(h)
}

/// Maps a hash to a uniform float in `[0, 1)`.
pub fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// `n` characters from the URL-safe alphabet, derived from `seed`.
pub fn token_chars(seed: u64, n: usize) -> String {
    let mut out = String::with_capacity(n);
    let mut state = seed;
    while out.len() < n {
        state = mix(state);
        let mut word = state;
        for _ in 0..10 {
            if out.len() == n {
                break;
            }
            out.push(char::from(ALPHABET[(word & 63) as usize]));
            word >>= 6;
        }
    }
    out
}

/// An affine permutation `i -> (a*i + b) mod n` of `0..n` with its inverse; `a` is near
/// `n / golden ratio`, which spreads consecutive indices evenly.
#[derive(Debug, Clone)]
pub struct AffinePerm {
    n: u64,
    a: u64,
    b: u64,
    a_inv: u64,
}

impl AffinePerm {
    /// A permutation of `0..n` chosen by `seed`.
    pub fn new(n: u64, seed: u64) -> Self {
        if n <= 1 {
            return Self {
                n: n.max(1),
                a: 1,
                b: 0,
                a_inv: 1,
            };
        }
        let golden = (n as f64 * 0.618_033_988_749_895) as u64;
        let mut a = (golden + mix(seed) % 97) % n;
        while a == 0 || gcd(a, n) != 1 {
            a = (a + 1) % n;
        }
        let b = mix(seed ^ 0x5eed) % n;
        let a_inv = mod_inverse(a, n);
        Self { n, a, b, a_inv }
    }

    /// The image of `i` (`i < n`).
    pub fn apply(&self, i: u64) -> u64 {
        ((u128::from(self.a) * u128::from(i) + u128::from(self.b)) % u128::from(self.n)) as u64
    }

    /// The preimage of `y` (`y < n`).
    pub fn invert(&self, y: u64) -> u64 {
        let shifted =
            (u128::from(y) + u128::from(self.n) - u128::from(self.b)) % u128::from(self.n);
        ((shifted * u128::from(self.a_inv)) % u128::from(self.n)) as u64
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

fn mod_inverse(a: u64, n: u64) -> u64 {
    let (mut t, mut new_t) = (0i128, 1i128);
    let (mut r, mut new_r) = (i128::from(n), i128::from(a));
    while new_r != 0 {
        let q = r / new_r;
        (t, new_t) = (new_t, t - q * new_t);
        (r, new_r) = (new_r, r - q * new_r);
    }
    if t < 0 {
        t += i128::from(n);
    }
    t as u64
}

/// Encodes `(kind, index)` as a 28-character id `o` + 5-character family prefix + 22 characters
/// of a keyed 128-bit permutation, and decodes it back; anything not produced by the same codec
/// (garbled, another family, another seed) fails to decode.
#[derive(Debug, Clone)]
pub struct IdCodec {
    prefix: String,
    keys: [u64; 4],
    check_key: u64,
}

/// Length of every openid / unionid.
pub const ID_LEN: usize = 28;

impl IdCodec {
    /// A codec whose prefix and keys derive from `family` (e.g. an appid) and `seed`.
    pub fn new(family: &str, seed: u64) -> Self {
        let base = hash2(hash_str(family), seed);
        let mut prefix = String::with_capacity(5);
        let mut word = mix(base ^ 0x0070_7265_6669);
        for _ in 0..5 {
            prefix.push(char::from(ALPHABET[(word % 62) as usize]));
            word /= 62;
        }
        let keys = [mix(base ^ 1), mix(base ^ 2), mix(base ^ 3), mix(base ^ 4)];
        Self {
            prefix,
            keys,
            check_key: mix(base ^ 5),
        }
    }

    /// The id of `(kind, index)`.
    pub fn encode(&self, kind: u8, index: u32) -> String {
        let check = self.check(kind, index);
        let plain = (u128::from(kind) << 120) | (u128::from(index) << 88) | check;
        let block = self.permute(plain);
        let mut out = String::with_capacity(ID_LEN);
        out.push('o');
        out.push_str(&self.prefix);
        for k in 0..21u32 {
            let sextet = (block >> (122 - 6 * k)) & 63;
            out.push(char::from(ALPHABET[sextet as usize]));
        }
        let filler = (block >> 64) as u64 & 0xF;
        let last = (((block & 3) as u64) << 4) | filler;
        out.push(char::from(ALPHABET[last as usize]));
        out
    }

    /// `(kind, index)` of an id made by this codec, `None` for anything else.
    pub fn decode(&self, id: &str) -> Option<(u8, u32)> {
        let bytes = id.as_bytes();
        if bytes.len() != ID_LEN || bytes[0] != b'o' || &bytes[1..6] != self.prefix.as_bytes() {
            return None;
        }
        let mut block: u128 = 0;
        for &c in &bytes[6..27] {
            block = (block << 6) | u128::from(sextet_of(c)?);
        }
        let last = u128::from(sextet_of(bytes[27])?);
        block = (block << 2) | (last >> 4);
        if (last & 0xF) as u64 != (block >> 64) as u64 & 0xF {
            return None;
        }
        let plain = self.unpermute(block);
        let kind = (plain >> 120) as u8;
        let index = ((plain >> 88) & 0xFFFF_FFFF) as u32;
        (plain & CHECK_MASK == self.check(kind, index)).then_some((kind, index))
    }

    fn check(&self, kind: u8, index: u32) -> u128 {
        let h1 = hash2(self.check_key, (u64::from(kind) << 32) | u64::from(index));
        let h2 = mix(h1);
        ((u128::from(h1) << 64) | u128::from(h2)) & CHECK_MASK
    }

    fn round(&self, half: u64, r: usize) -> u64 {
        mix(half ^ self.keys[r])
    }

    fn permute(&self, plain: u128) -> u128 {
        let (mut l, mut r) = ((plain >> 64) as u64, plain as u64);
        for k in 0..4 {
            (l, r) = (r, l ^ self.round(r, k));
        }
        (u128::from(l) << 64) | u128::from(r)
    }

    fn unpermute(&self, block: u128) -> u128 {
        let (mut l, mut r) = ((block >> 64) as u64, block as u64);
        for k in (0..4).rev() {
            (l, r) = (r ^ self.round(l, k), l);
        }
        (u128::from(l) << 64) | u128::from(r)
    }
}

const CHECK_MASK: u128 = (1u128 << 88) - 1;

fn sextet_of(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'-' => Some(62),
        b'_' => Some(63),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codec_round_trips_and_rejects_garbage() {
        let codec = IdCodec::new("wx5e1a0000000000a1", 7);
        for (kind, index) in [(1u8, 0u32), (1, 1), (2, 999_999), (3, u32::MAX)] {
            let id = codec.encode(kind, index);
            assert_eq!(id.len(), ID_LEN);
            assert!(id.starts_with('o'));
            assert_eq!(codec.decode(&id), Some((kind, index)));
            let mut garbled = id.clone().into_bytes();
            garbled[12] = if garbled[12] == b'A' { b'B' } else { b'A' };
            assert_eq!(codec.decode(&String::from_utf8(garbled).unwrap()), None);
        }
        let other = IdCodec::new("wx5e1a0000000000b2", 7);
        assert_eq!(other.decode(&codec.encode(1, 5)), None);
        assert_eq!(codec.decode("oia2TjuEGTNoeX76QEjQNrcURxG8"), None);
        assert_eq!(codec.decode("短"), None);
        // 28 bytes with a multi-byte character across the prefix boundary: no panic.
        assert_eq!(codec.decode("o短短短短短短短短短"), None);
    }

    #[test]
    fn affine_permutation_is_a_bijection() {
        for n in [1u64, 2, 10, 97, 1000, 25_001] {
            let p = AffinePerm::new(n, 42);
            let mut seen = vec![false; n as usize];
            for i in 0..n {
                let y = p.apply(i);
                assert!(!seen[y as usize]);
                seen[y as usize] = true;
                assert_eq!(p.invert(y), i);
            }
        }
    }
}
