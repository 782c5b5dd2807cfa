//! Where a root is, as a conduit stores it and as people type it: a folder
//! of this machine (`/home/me/docs`) or a folder on a paired device
//! (`laptop:/home/me/docs`).
//!
//! The rule is rsync's and scp's: a name of a paired device, a colon, then
//! an absolute path. A local path with a colon in its first component is
//! written `./a:b`.

use std::fmt;
use std::path::{Path, PathBuf};

/// A root's place.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Place {
    /// A folder of this machine (absolute once stored).
    Local(PathBuf),
    /// A folder on the paired device `device`.
    Device {
        /// The device's name on this home.
        device: String,
        /// The folder there (absolute).
        path: PathBuf,
    },
}

impl Place {
    /// Read `text` as typed or stored. `NAME:/path` is a device's folder
    /// when `NAME` has the form of a device name; anything else is local.
    pub fn parse(text: &str) -> Place {
        if let Some((device, path)) = text.split_once(':')
            && !device.contains('/')
            && crate::device::check_name(device).is_ok()
        {
            return Place::Device {
                device: device.to_string(),
                path: PathBuf::from(path),
            };
        }
        Place::Local(PathBuf::from(text))
    }

    /// The folder, if it is on this machine.
    pub fn local(&self) -> Option<&Path> {
        match self {
            Place::Local(path) => Some(path),
            Place::Device { .. } => None,
        }
    }

    /// The device it is on, if not this machine.
    pub fn device(&self) -> Option<&str> {
        match self {
            Place::Local(_) => None,
            Place::Device { device, .. } => Some(device),
        }
    }

    /// The folder's path on whichever machine holds it.
    pub fn path(&self) -> &Path {
        match self {
            Place::Local(path) | Place::Device { path, .. } => path,
        }
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Place::Local(path) => write!(f, "{}", path.display()),
            Place::Device { device, path } => write!(f, "{device}:{}", path.display()),
        }
    }
}

impl serde::Serialize for Place {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_roots_are_told_from_local_paths() {
        let device = |d: &str, p: &str| Place::Device {
            device: d.into(),
            path: p.into(),
        };
        let local = |p: &str| Place::Local(p.into());
        for (text, place) in [
            ("laptop:/home/me", device("laptop", "/home/me")),
            ("nas-2:/srv", device("nas-2", "/srv")),
            ("/tmp/a:b", local("/tmp/a:b")),
            ("./a:b", local("./a:b")),
            ("a/b:c", local("a/b:c")),
            ("docs", local("docs")),
            ("bad name:/x", local("bad name:/x")),
        ] {
            assert_eq!(Place::parse(text), place, "{text}");
            assert_eq!(Place::parse(&place.to_string()), place, "{text}");
        }
    }
}
