//! The peer-to-peer endpoint: one per home and process, on a runtime of its
//! own so that the synchronous data path (the executor's worker threads) can
//! drive it from anywhere.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use iroh::endpoint::{Connection, QuicTransportConfig, presets};
use iroh::{Endpoint, EndpointAddr, PublicKey, SecretKey, TransportAddr};

use super::{Device, DeviceId};

/// The protocol Conduit speaks between devices, and its version.
pub const ALPN: &[u8] = b"conduit/1";

/// How long dialling a device may take before it counts as offline.
const DIAL_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection silent this long is taken as lost.
const IDLE: Duration = Duration::from_secs(8);

/// A home's endpoint for dialling its devices.
pub struct Network {
    runtime: tokio::runtime::Runtime,
    endpoint: Endpoint,
    connections: Mutex<HashMap<DeviceId, Connection>>,
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.debug_struct("Network")
            .field("id", &self.endpoint.id())
            .finish()
    }
}

/// The endpoints of this process, by home.
fn networks() -> &'static Mutex<HashMap<PathBuf, Arc<Network>>> {
    static NETWORKS: OnceLock<Mutex<HashMap<PathBuf, Arc<Network>>>> = OnceLock::new();
    NETWORKS.get_or_init(Default::default)
}

/// Connections paired devices opened to this process, by device.
fn arrivals() -> &'static Mutex<HashMap<DeviceId, usize>> {
    static ARRIVALS: OnceLock<Mutex<HashMap<DeviceId, usize>>> = OnceLock::new();
    ARRIVALS.get_or_init(Default::default)
}

/// A paired device connected to this process (`true`) or went away.
pub fn arrived(id: DeviceId, here: bool) {
    let mut arrivals = arrivals().lock().unwrap();
    let count = arrivals.entry(id).or_default();
    match here {
        true => *count += 1,
        false => *count = count.saturating_sub(1),
    }
    if *count == 0 {
        arrivals.remove(&id);
    }
}

/// Whether this process holds an open connection with device `id`, either
/// way, for `home`.
pub fn is_connected(home: &Path, id: &DeviceId) -> bool {
    if arrivals().lock().unwrap().contains_key(id) {
        return true;
    }
    let network = networks().lock().unwrap().get(home).cloned();
    network.is_some_and(|n| {
        n.connections
            .lock()
            .unwrap()
            .get(id)
            .is_some_and(|c| c.close_reason().is_none())
    })
}

impl Network {
    /// The home's endpoint in this process, bound on first use.
    pub fn of(home: &Path) -> anyhow::Result<Arc<Network>> {
        let mut networks = networks().lock().unwrap();
        if let Some(network) = networks.get(home) {
            return Ok(network.clone());
        }
        let secret = SecretKey::from_bytes(&super::secret_key(home)?);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("conduit-net")
            .enable_all()
            .build()?;
        let bind = Endpoint::builder(presets::Minimal)
            .secret_key(secret)
            .transport_config(transport())
            .bind();
        let endpoint = outside_async(|| runtime.block_on(bind))
            .map_err(|e| anyhow::anyhow!("cannot open a network endpoint for devices: {e}"))?;
        let network = Arc::new(Network {
            runtime,
            endpoint,
            connections: Mutex::new(HashMap::new()),
        });
        networks.insert(home.to_path_buf(), network.clone());
        Ok(network)
    }

    /// Run `future` on the network's runtime and wait for it (the data
    /// path is synchronous), from any thread.
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        outside_async(|| self.runtime.block_on(future))
    }

    /// A connection to `device`: the open one, or a new one dialled at its
    /// address. The far end proved it holds the device's key.
    pub async fn connect(&self, device: &Device) -> std::io::Result<Connection> {
        if let Some(c) = self.connections.lock().unwrap().get(&device.id)
            && c.close_reason().is_none()
        {
            return Ok(c.clone());
        }
        let address = device.address.as_deref().ok_or_else(|| {
            std::io::Error::other(format!(
                "device {} has no address to dial: give it one with `conduit device add {} ID \
                 HOST:PORT`",
                device.name, device.name
            ))
        })?;
        let socket = resolve(address).map_err(|e| {
            std::io::Error::other(format!("device {}: address {address:?}: {e}", device.name))
        })?;
        let to = endpoint_addr(device.id, socket)?;
        let connection = tokio::time::timeout(DIAL_TIMEOUT, self.endpoint.connect(to, ALPN))
            .await
            .map_err(|_| offline(device, address, "no answer"))?
            .map_err(|e| match e.to_string() {
                why if why.contains("handshake") => impostor(device, address, &why),
                why => offline(device, address, &why),
            })?;
        self.connections
            .lock()
            .unwrap()
            .insert(device.id, connection.clone());
        Ok(connection)
    }

    /// Why the connection to `device` closed, if it did: the far end's
    /// reason when it refused this home.
    pub fn closed_why(&self, device: &Device) -> Option<String> {
        let connections = self.connections.lock().unwrap();
        let reason = connections.get(&device.id)?.close_reason()?;
        Some(reason.to_string())
    }

    /// This home's device ID.
    pub fn own_id(&self) -> DeviceId {
        DeviceId::from_bytes(*self.endpoint.id().as_bytes())
    }

    /// Forget the connection to `device` (it failed); the next call dials again.
    pub fn drop_connection(&self, device: &Device) {
        self.connections.lock().unwrap().remove(&device.id);
    }
}

/// Keep-alives every few seconds, so a device that went away (powered off,
/// out of range) is noticed within `IDLE` instead of at the next request.
fn transport() -> QuicTransportConfig {
    QuicTransportConfig::builder()
        .keep_alive_interval(Duration::from_secs(2))
        .max_idle_timeout(Some(IDLE.try_into().expect("a small timeout")))
        .build()
}

/// Run `f`, which blocks, also from a thread of an async runtime (the
/// watch service's loop): that thread's other tasks move elsewhere meanwhile.
fn outside_async<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(_) => tokio::task::block_in_place(f),
        Err(_) => f(),
    }
}

fn offline(device: &Device, address: &str, why: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::NotConnected,
        format!(
            "device {} ({}) at {address} cannot be reached: {why}; is Conduit serving there \
             (`conduit serve` or `conduit watch` with --devices), and is this device paired \
             on it?",
            device.name,
            device.id.short()
        ),
    )
}

fn impostor(device: &Device, address: &str, why: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::PermissionDenied,
        format!(
            "the device at {address} did not prove it is {} ({}): another device answers \
             there, or {} has a new identity (compare `conduit device id` on it with `conduit \
             device list` here) ({why})",
            device.name,
            device.id.short(),
            device.name
        ),
    )
}

fn resolve(address: &str) -> std::io::Result<SocketAddr> {
    use std::net::ToSocketAddrs;
    address
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other("it resolves to no address"))
}

fn endpoint_addr(id: DeviceId, socket: SocketAddr) -> std::io::Result<EndpointAddr> {
    let key = PublicKey::from_bytes(id.as_bytes())
        .map_err(|e| std::io::Error::other(format!("not a usable device key: {e}")))?;
    Ok(EndpointAddr::from_parts(key, [TransportAddr::Ip(socket)]))
}

/// The endpoint a serving home listens on for its devices.
pub async fn listen(home: &Path, at: SocketAddr) -> anyhow::Result<Endpoint> {
    let secret = SecretKey::from_bytes(&super::secret_key(home)?);
    Endpoint::builder(presets::Minimal)
        .secret_key(secret)
        .alpns(vec![ALPN.to_vec()])
        .transport_config(transport())
        .clear_ip_transports()
        .bind_addr(at)
        .map_err(|e| anyhow::anyhow!("--devices {at}: {e}"))?
        .bind()
        .await
        .map_err(|e| {
            anyhow::anyhow!("cannot listen for devices on {at}: {e}; choose another --devices")
        })
}

/// The device ID of a connection's far end.
pub fn remote_id(connection: &Connection) -> DeviceId {
    DeviceId::from_bytes(*connection.remote_id().as_bytes())
}
