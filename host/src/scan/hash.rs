//! BLAKE3 of files and symlinks, read without touching access times.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::policy::{Digest, digest_from_bytes};

/// Files at least this large are hashed on all cores.
const PARALLEL_HASH_FROM: u64 = 1 << 20;
const BUFFER: usize = 1 << 20;

/// Open for reading with `O_NOATIME`, so Conduit's own reads do not count
/// as accesses (offload's recency). The kernel allows the flag only to the
/// file's owner (or root); otherwise open normally.
pub fn open_noatime(path: &Path) -> std::io::Result<File> {
    match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOATIME)
        .open(path)
    {
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => File::open(path),
        other => other,
    }
}

/// BLAKE3 of a file's content. `size` (from the scan's stat) picks the
/// strategy only; the whole file is read whatever its length.
pub fn hash_file(path: &Path, size: u64) -> std::io::Result<Digest> {
    let mut file = open_noatime(path)?;
    let mut hasher = blake3::Hasher::new();
    if size < PARALLEL_HASH_FROM {
        let mut buf = Vec::with_capacity(size as usize + 1);
        file.read_to_end(&mut buf)?;
        hasher.update(&buf);
    } else {
        let mut buf = vec![0u8; BUFFER];
        loop {
            let n = read_full(&mut file, &mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update_rayon(&buf[..n]);
        }
    }
    Ok(digest_from_bytes(hasher.finalize().as_bytes()))
}

/// BLAKE3 of a symlink's target, as bytes.
pub fn hash_symlink(path: &Path) -> std::io::Result<Digest> {
    use std::os::unix::ffi::OsStrExt;
    let target = std::fs::read_link(path)?;
    Ok(digest_from_bytes(
        blake3::hash(target.as_os_str().as_bytes()).as_bytes(),
    ))
}

/// Fill `buf` as far as the file allows; 0 only at end of file.
fn read_full(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
