//! `conduit device id | add | list | remove`.

use std::path::Path;

use clap::Subcommand;
use serde_json::json;

use super::exit;
use crate::api::Host;

#[derive(Subcommand)]
pub(super) enum DeviceCommand {
    /// Print this home's device ID (to pair it on another device).
    Id {
        #[arg(long)]
        json: bool,
    },
    /// Pair a device: it may connect here, and roots NAME:/path are on it.
    /// Pair on both devices, each with the other's ID.
    Add {
        /// The name roots use for it, e.g. `laptop`.
        name: String,
        /// Its device ID, as `conduit device id` prints it there.
        id: String,
        /// Where it listens (HOST:PORT, its `--devices` address), if this
        /// home is to dial it.
        address: Option<String>,
    },
    /// List the paired devices.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Unpair a device (refused while a conduit has a root on it).
    Remove { name: String },
}

pub(super) fn run(home: &Path, cmd: DeviceCommand) -> anyhow::Result<i32> {
    let mut host = Host::open(home)?;
    match cmd {
        DeviceCommand::Id { json } => {
            let id = host.device_id()?;
            match json {
                true => println!(
                    "{}",
                    super::json(
                        &json!({ "id": id.to_string(), "short_id": id.short() }),
                        true
                    )?
                ),
                false => println!("{id}"),
            }
        }
        DeviceCommand::Add { name, id, address } => {
            let device = host.pair(&name, &id, address.as_deref())?;
            let at = device
                .address
                .map_or(String::from(" (it dials this home)"), |a| {
                    format!(" at {a}")
                });
            println!("paired {} ({}){at}", device.name, device.id.short());
        }
        DeviceCommand::List { json } => {
            let devices = host.devices()?;
            if json {
                println!("{}", super::json(&devices, true)?);
            } else {
                println!(
                    "{:<16} {:<8} {:<22} {:<26} CONDUITS",
                    "NAME", "ID", "ADDRESS", "LAST SEEN"
                );
                for d in devices {
                    println!(
                        "{:<16} {:<8} {:<22} {:<26} {}",
                        d.name,
                        d.short_id,
                        d.address.as_deref().unwrap_or("-"),
                        d.last_seen.as_deref().unwrap_or("never"),
                        d.conduits.join(", ")
                    );
                }
            }
        }
        DeviceCommand::Remove { name } => {
            host.unpair(&name)?;
            println!("unpaired {name}");
        }
    }
    Ok(exit::OK)
}
