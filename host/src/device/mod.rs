//! This home as a device among a person's devices: its identity (an Ed25519
//! key pair, the device ID derived from the public key), the devices paired
//! with it, and the peer-to-peer endpoint that carries their traffic.
//!
//! The transport is iroh: QUIC with TLS 1.3 authenticated by raw Ed25519
//! public keys, so a connection's far end is proven to hold the key of the
//! device ID it was dialled by (and an accepted one tells its own). Nothing
//! here is home-made crypto: this module only decides *which* keys are
//! welcome. The endpoint is bound with iroh's minimal preset (no relay, no
//! address lookup): devices reach each other at the addresses paired with
//! them, and nothing contacts a public server.

mod id;
mod network;

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

pub use id::DeviceId;
pub use network::{ALPN, Network, arrived, is_connected, listen, remote_id};

/// A device paired with this home: the far end of remote roots, and a
/// device allowed to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// The name roots use (`NAME:/path`).
    pub name: String,
    /// Its identity.
    pub id: DeviceId,
    /// Where it listens (`HOST:PORT`), if this home dials it.
    pub address: Option<String>,
    /// When a connection with it last succeeded (ns since the epoch).
    pub last_seen_ns: Option<i64>,
}

/// The home's secret device key, read from `HOME/device-key` or made there on
/// first use (mode 0600).
pub fn secret_key(home: &Path) -> anyhow::Result<[u8; 32]> {
    let path = home.join("device-key");
    match std::fs::read(&path) {
        Ok(bytes) => {
            let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                anyhow::anyhow!(
                    "{} is not a device key (it must be 32 bytes, it has {}); move it away and \
                     a new identity is made, which every paired device must then pair again",
                    path.display(),
                    bytes.len()
                )
            })?;
            if std::fs::metadata(&path)?.permissions().mode() & 0o077 != 0 {
                tracing::warn!(
                    "{} was readable by others; it is now mode 0600",
                    path.display()
                );
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
            }
            return Ok(key);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => anyhow::bail!("cannot read the device key {}: {e}", path.display()),
    }
    std::fs::create_dir_all(home)?;
    let mut key = [0u8; 32];
    rustix::rand::getrandom(&mut key, rustix::rand::GetRandomFlags::empty())
        .map_err(|e| anyhow::anyhow!("no randomness for the device key: {e}"))?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?;
    file.write_all(&key)?;
    file.sync_all()?;
    Ok(key)
}

/// This home's device ID (its key is made on first use).
pub fn own_id(home: &Path) -> anyhow::Result<DeviceId> {
    let secret = iroh::SecretKey::from_bytes(&secret_key(home)?);
    Ok(DeviceId::from_bytes(*secret.public().as_bytes()))
}

/// A device name: what goes before the `:` of a remote root.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        && !name.chars().all(|c| c == '.');
    match ok {
        true => Ok(()),
        false => Err(format!(
            "device name {name:?} is not valid: use letters, digits, `-`, `_` and `.` \
             (at most 64), as in `laptop` or `nas-2`"
        )),
    }
}
