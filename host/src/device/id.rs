//! Device IDs as people read and type them.
//!
//! The full form is the 32-byte public key in base32 (52 characters) plus 4
//! check characters, in eight groups of seven: a typo in any one character,
//! or two swapped characters, is caught when it is parsed rather than
//! pairing with a device that does not exist. The short form is the first
//! group, enough to tell one's own devices apart in a listing.

use std::fmt;
use std::str::FromStr;

const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const KEY_CHARS: usize = 52;
const CHECK_CHARS: usize = 4;
const GROUP: usize = 7;

/// A device's identity: its Ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeviceId([u8; 32]);

impl DeviceId {
    /// The ID of the public key `bytes`.
    pub fn from_bytes(bytes: [u8; 32]) -> DeviceId {
        DeviceId(bytes)
    }

    /// The public key.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The first group of the full form.
    pub fn short(&self) -> String {
        self.to_string()[..GROUP].to_string()
    }

    fn check(&self) -> String {
        let hash = blake3::derive_key("conduit device id check", &self.0);
        encode(&hash)[..CHECK_CHARS].to_string()
    }
}

fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 8 / 5 + 1);
    let (mut acc, mut bits) = (0u32, 0);
    for &b in bytes {
        acc = (acc << 8) | b as u32;
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((acc >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let all = encode(&self.0) + &self.check();
        let groups: Vec<&str> = all
            .as_bytes()
            .chunks(GROUP)
            .map(|g| std::str::from_utf8(g).expect("ASCII"))
            .collect();
        f.write_str(&groups.join("-"))
    }
}

impl fmt::Debug for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "DeviceId({})", self.short())
    }
}

impl FromStr for DeviceId {
    type Err = String;

    fn from_str(s: &str) -> Result<DeviceId, String> {
        let help = "a device ID is 56 letters and digits in groups of seven, as \
                    `conduit device id` prints it on that device";
        let chars: Vec<u8> = s
            .bytes()
            .filter(|b| !matches!(b, b'-' | b' '))
            .map(|b| b.to_ascii_uppercase())
            .collect();
        if chars.len() != KEY_CHARS + CHECK_CHARS {
            return Err(format!(
                "{s:?} is not a device ID: it has {} characters; {help}",
                chars.len()
            ));
        }
        let mut bytes = Vec::with_capacity(33);
        let (mut acc, mut bits) = (0u32, 0);
        for &c in &chars[..KEY_CHARS] {
            let v = ALPHABET.iter().position(|&a| a == c).ok_or_else(|| {
                format!(
                    "{s:?} is not a device ID: {:?} is not one of its letters; {help}",
                    c as char
                )
            })?;
            acc = (acc << 5) | v as u32;
            bits += 5;
            if bits >= 8 {
                bits -= 8;
                bytes.push((acc >> bits) as u8);
            }
        }
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| format!("{s:?} is not a device ID; {help}"))?;
        let id = DeviceId(key);
        if acc & ((1 << bits) - 1) != 0 || id.check().as_bytes() != &chars[KEY_CHARS..] {
            return Err(format!(
                "{s:?} is not a device ID: its check characters do not match (a typo?); copy \
                 it again from `conduit device id` on that device"
            ));
        }
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_full_form_reads_back_and_typos_are_caught() {
        for seed in 0u8..50 {
            let id = DeviceId(*blake3::hash(&[seed]).as_bytes());
            let text = id.to_string();
            assert_eq!(text.len(), 56 + 7, "{text}");
            assert_eq!(text.parse::<DeviceId>(), Ok(id));
            assert_eq!(text.to_lowercase().replace('-', "").parse(), Ok(id));
            assert!(text.starts_with(&id.short()));
            let plain: Vec<u8> = text.bytes().filter(|&b| b != b'-').collect();
            for i in 0..plain.len() {
                let mut typo = plain.clone();
                typo[i] = if typo[i] == b'A' { b'B' } else { b'A' };
                let typo = String::from_utf8(typo).unwrap();
                assert!(typo.parse::<DeviceId>().is_err(), "{typo} was taken");
            }
            for i in 0..plain.len() - 1 {
                let mut swapped = plain.clone();
                swapped.swap(i, i + 1);
                if swapped != plain {
                    let swapped = String::from_utf8(swapped).unwrap();
                    assert!(swapped.parse::<DeviceId>().is_err(), "{swapped} was taken");
                }
            }
        }
    }
}
