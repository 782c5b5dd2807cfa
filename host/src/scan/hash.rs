//! BLAKE3 of file contents and symlink targets.

use std::fs::File;
use std::io::Read;

use conduit_contract::{Digest, digest_from_bytes};

/// Files at least this large are hashed on all cores.
const PARALLEL_HASH_FROM: u64 = 1 << 20;
const BUFFER: usize = 1 << 20;

/// BLAKE3 of an open file's content. `size` (from the scan's stat) picks the
/// strategy only; the whole file is read whatever its length.
pub fn hash_file(mut file: File, size: u64) -> std::io::Result<Digest> {
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

/// BLAKE3 of bytes (a symlink's target).
pub fn hash_bytes(bytes: &[u8]) -> Digest {
    digest_from_bytes(blake3::hash(bytes).as_bytes())
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
