//! Advisory locks on files in the home: one run per conduit, one service per
//! conduit.
//!
//! A `flock` belongs to an open file description, and every child that any
//! thread of this process forks shares the descriptions it inherits until it
//! execs; a probe (`conduit status` asking whether a service is live) also holds a lock for an instant.
//! Neither is a run, so a lock found held is waited for a moment before it
//! counts as taken.

use std::fs::File;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long a lock may be held by someone who is not a run or a service.
const GRACE: Duration = Duration::from_secs(1);

/// Take the exclusive lock on `path`, creating the file; `None` when it is
/// still held after [`GRACE`]. The lock lasts as long as the returned file.
pub(crate) fn take(path: &Path) -> std::io::Result<Option<File>> {
    let file = File::create(path)?;
    let deadline = Instant::now() + GRACE;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(Some(file)),
            Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
            Err(std::fs::TryLockError::Error(e)) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_let_go_within_the_grace_is_taken() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1.lock");
        let held = take(&path).unwrap().expect("free");
        let letting_go = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            drop(held);
        });
        assert!(take(&path).unwrap().is_some());
        letting_go.join().unwrap();
    }

    #[test]
    fn a_lock_held_past_the_grace_is_not_taken() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1.lock");
        let _held = take(&path).unwrap().expect("free");
        let started = Instant::now();
        assert!(take(&path).unwrap().is_none());
        assert!(started.elapsed() >= GRACE);
    }
}
