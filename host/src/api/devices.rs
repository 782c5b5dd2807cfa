//! This home's identity and the devices paired with it.

use super::{Host, usage};
use crate::device::{self, Device, DeviceId};

/// A paired device as `device list` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeviceListing {
    /// Its name here.
    pub name: String,
    /// Its device ID, full form.
    pub id: String,
    /// The first group of the ID.
    pub short_id: String,
    /// Where it is dialled, if this home dials it.
    pub address: Option<String>,
    /// When a connection with it last succeeded (RFC 3339).
    pub last_seen: Option<String>,
    /// A connection with it is open in this process (the serving one, when
    /// asked through the HTTP API).
    pub connected: bool,
    /// The conduits with a root on it.
    pub conduits: Vec<String>,
}

impl Host {
    /// This home's device ID (the key pair is made on first use).
    pub fn device_id(&self) -> anyhow::Result<DeviceId> {
        device::own_id(&self.home)
    }

    /// Pair the device `id` under `name`; it may then connect, and roots
    /// `name:/path` are on it. `address` (`HOST:PORT`) is where it is
    /// dialled. Pairing a name again changes its address (and ID).
    pub fn pair(&mut self, name: &str, id: &str, address: Option<&str>) -> anyhow::Result<Device> {
        device::check_name(name).or_else(usage)?;
        let id: DeviceId = id.parse().or_else(usage)?;
        if id == self.device_id()? {
            return usage(
                "that is this home's own device ID; pair the other device's ID (`conduit device id` there)",
            );
        }
        if let Some(address) = address {
            check_address(address)?;
        }
        let devices = self.index.devices()?;
        if let Some(other) = devices.iter().find(|d| d.id == id && d.name != name) {
            return usage(format!(
                "that device is paired already, as `{}`; remove it first (`conduit device remove {}`)",
                other.name, other.name
            ));
        }
        let device = Device {
            name: name.to_string(),
            id,
            address: address.map(str::to_string),
            last_seen_ns: None,
        };
        self.index.put_device(&device)?;
        Ok(device)
    }

    /// The paired devices, with the conduits on each.
    pub fn devices(&self) -> anyhow::Result<Vec<DeviceListing>> {
        let conduits = self.index.conduits()?;
        Ok(self
            .index
            .devices()?
            .into_iter()
            .map(|d| DeviceListing {
                conduits: conduits
                    .iter()
                    .filter(|c| {
                        [&c.source, &c.destination]
                            .iter()
                            .any(|p| p.device() == Some(&d.name))
                    })
                    .map(|c| c.name.clone())
                    .collect(),
                connected: device::is_connected(&self.home, &d.id),
                short_id: d.id.short(),
                id: d.id.to_string(),
                address: d.address,
                last_seen: d.last_seen_ns.map(crate::clock::rfc3339),
                name: d.name,
            })
            .collect())
    }

    /// Unpair a device: it can no longer connect. Refused while a conduit
    /// has a root on it.
    pub fn unpair(&mut self, name: &str) -> anyhow::Result<()> {
        let using: Vec<String> = self
            .devices()?
            .into_iter()
            .find(|d| d.name == name)
            .map(|d| d.conduits)
            .unwrap_or_default();
        if !using.is_empty() {
            return usage(format!(
                "device `{name}` holds a root of {}; remove those conduits first",
                using.join(", ")
            ));
        }
        if !self.index.remove_device(name)? {
            return usage(format!(
                "no device named `{name}` is paired (`conduit device list`)"
            ));
        }
        Ok(())
    }
}

fn check_address(address: &str) -> anyhow::Result<()> {
    use std::net::ToSocketAddrs;
    match address.to_socket_addrs().map(|mut addrs| addrs.next()) {
        Ok(Some(_)) => Ok(()),
        _ => usage(format!(
            "{address:?} is not an address to dial: use HOST:PORT, e.g. 192.168.1.20:8378"
        )),
    }
}
