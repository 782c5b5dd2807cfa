//! Path resolution that cannot leave a root.
//!
//! Every operation inside a root starts from the root's directory descriptor
//! and resolves a relative path with `openat2(RESOLVE_BENEATH |
//! RESOLVE_NO_SYMLINKS)`, where the kernel refuses any symlink on the way and
//! any escape from the descriptor; where `openat2` is missing (or the path is
//! longer than the kernel takes in one call) the same is done one component
//! at a time with `O_NOFOLLOW`. The last component is then acted on by name
//! relative to its parent's descriptor, with calls that never follow a
//! symlink (`fstatat(AT_SYMLINK_NOFOLLOW)`, `renameat2`, `unlinkat`,
//! `mkdirat`, `linkat` without `AT_SYMLINK_FOLLOW`). A folder swapped for a
//! symlink between a scan and a write makes that path fail; it never sends
//! the write elsewhere.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags, Stat};
use rustix::io::Errno;

/// Set once the kernel said it has no `openat2`.
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

const RESOLVE: ResolveFlags = ResolveFlags::BENEATH
    .union(ResolveFlags::NO_SYMLINKS)
    .union(ResolveFlags::NO_MAGICLINKS);

/// Flags for a directory used only as the anchor of `*at` calls (no read
/// permission needed).
pub(crate) const ANCHOR: OFlags = OFlags::PATH.union(OFlags::DIRECTORY);
/// Flags for a directory that will be listed or synced.
pub(crate) const LISTABLE: OFlags = OFlags::RDONLY.union(OFlags::DIRECTORY);

/// Open `rel` (relative, `/`-separated, already checked; `""` is `dir`
/// itself) beneath `dir` without following any symlink, the last component
/// included (with `O_PATH`, a final symlink is opened as the link itself).
pub(crate) fn open_beneath(
    dir: BorrowedFd,
    rel: &str,
    flags: OFlags,
    mode: Mode,
) -> io::Result<OwnedFd> {
    let flags = flags | OFlags::CLOEXEC | OFlags::NOFOLLOW;
    if rel.is_empty() {
        return Ok(rustix::fs::openat(dir, c".", flags, mode)?);
    }
    if !NO_OPENAT2.load(Ordering::Relaxed) {
        match rustix::fs::openat2(dir, rel, flags, mode, RESOLVE) {
            Err(Errno::NOSYS) => NO_OPENAT2.store(true, Ordering::Relaxed),
            // Longer than PATH_MAX in one call: walk it instead.
            Err(Errno::NAMETOOLONG) => {}
            // A symlink on the way, in `openat2`'s words.
            Err(Errno::XDEV) => return Err(Errno::LOOP.into()),
            other => return Ok(other?),
        }
    }
    walk_beneath(dir, rel, flags, mode)
}

/// [`open_beneath`] one component at a time.
fn walk_beneath(dir: BorrowedFd, rel: &str, flags: OFlags, mode: Mode) -> io::Result<OwnedFd> {
    let (parents, last) = match rel.rsplit_once('/') {
        Some((parents, last)) => (Some(parents), last),
        None => (None, rel),
    };
    let mut at: Option<OwnedFd> = None;
    for part in parents.into_iter().flat_map(|p| p.split('/')) {
        let base = at.as_ref().map_or(dir, |fd| fd.as_fd());
        let next = rustix::fs::openat(
            base,
            part,
            ANCHOR | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(not_a_folder)?;
        at = Some(next);
    }
    let base = at.as_ref().map_or(dir, |fd| fd.as_fd());
    Ok(rustix::fs::openat(base, last, flags, mode)?)
}

/// `O_NOFOLLOW | O_DIRECTORY` on a symlink or file says ENOTDIR or ELOOP;
/// both mean "not a folder here".
fn not_a_folder(e: Errno) -> io::Error {
    match e {
        Errno::NOTDIR => Errno::LOOP.into(),
        other => other.into(),
    }
}

/// The parent folder of `rel` (opened as an anchor) and `rel`'s last name.
pub(crate) fn parent_of<'r>(dir: BorrowedFd, rel: &'r str) -> io::Result<(OwnedFd, &'r str)> {
    let (parent, name) = match rel.rsplit_once('/') {
        Some((parent, name)) => (parent, name),
        None => ("", rel),
    };
    let fd = open_beneath(dir, parent, ANCHOR, Mode::empty()).map_err(|e| {
        if e.raw_os_error() == Some(libc::ENOTDIR) {
            Errno::LOOP.into()
        } else {
            e
        }
    })?;
    Ok((fd, name))
}

/// `lstat` of `rel`: `None` when it does not exist, also when a folder on the
/// way is gone or is no longer a folder (a file or a symlink now stands
/// there: in the root's tree, nothing is at `rel`).
pub(crate) fn stat_beneath(dir: BorrowedFd, rel: &str) -> io::Result<Option<Stat>> {
    let result = parent_of(dir, rel).and_then(|(parent, name)| {
        Ok(rustix::fs::statat(
            &parent,
            name,
            AtFlags::SYMLINK_NOFOLLOW,
        )?)
    });
    match result {
        Ok(stat) => Ok(Some(stat)),
        Err(e) if is_absent(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// True for errors that mean "nothing at this path in the root's tree".
pub(crate) fn is_absent(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOENT) | Some(libc::ENOTDIR) | Some(libc::ELOOP)
    )
}

/// Open a regular file for reading: never a symlink (refused), never a FIFO
/// or device (opened non-blocking, refused after `fstat` on the descriptor,
/// so a FIFO swapped in cannot hang the run). Reads do not update the access
/// time where the kernel lets us (offload's recency is the user's).
pub(crate) fn open_regular(dir: BorrowedFd, rel: &str) -> io::Result<(File, Stat)> {
    let flags = OFlags::RDONLY | OFlags::NONBLOCK;
    let fd = match open_beneath(dir, rel, flags | OFlags::NOATIME, Mode::empty()) {
        // O_NOATIME is for the file's owner (or root) only.
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
            open_beneath(dir, rel, flags, Mode::empty())?
        }
        other => other?,
    };
    let stat = rustix::fs::fstat(&fd)?;
    if FileType::from_raw_mode(stat.st_mode as _) != FileType::RegularFile {
        return Err(io::Error::other(format!(
            "{rel:?} is not a regular file (a FIFO, device or socket now stands there)"
        )));
    }
    rustix::fs::fcntl_setfl(&fd, rustix::fs::fcntl_getfl(&fd)? - OFlags::NONBLOCK)?;
    Ok((File::from(fd), stat))
}

/// `readlink` of `rel` itself (a symlink's target, as bytes).
pub(crate) fn read_link_beneath(dir: BorrowedFd, rel: &str) -> io::Result<Vec<u8>> {
    let (parent, name) = parent_of(dir, rel)?;
    Ok(rustix::fs::readlinkat(&parent, name, Vec::new())?.into_bytes())
}

/// Create the folders of `rel` that are missing (each with `mode`) and open
/// the last one as an anchor. A file or symlink on the way fails the call.
pub(crate) fn make_dirs(dir: BorrowedFd, rel: &str, mode: Mode) -> io::Result<OwnedFd> {
    match open_beneath(dir, rel, ANCHOR, Mode::empty()) {
        Ok(fd) => return Ok(fd),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
        // A file or a symlink where a folder should be.
        Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => return Err(Errno::LOOP.into()),
        Err(e) => return Err(e),
    }
    let mut at = open_beneath(dir, "", ANCHOR, Mode::empty())?;
    for part in rel.split('/').filter(|p| !p.is_empty()) {
        match rustix::fs::mkdirat(&at, part, mode) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(e.into()),
        }
        at = rustix::fs::openat(
            &at,
            part,
            ANCHOR | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(not_a_folder)?;
    }
    Ok(at)
}

/// Remove everything inside the folder `name` of `parent`, then the folder,
/// without following symlinks.
pub(crate) fn remove_tree(parent: BorrowedFd, name: &str) -> io::Result<()> {
    let stat = match rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) => stat,
        Err(Errno::NOENT) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if FileType::from_raw_mode(stat.st_mode as _) != FileType::Directory {
        return Ok(rustix::fs::unlinkat(parent, name, AtFlags::empty())?);
    }
    let fd = rustix::fs::openat(
        parent,
        name,
        LISTABLE | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    for entry in names(&fd)? {
        let entry = entry.to_str().map_err(io::Error::other)?;
        remove_tree(fd.as_fd(), entry)?;
    }
    match rustix::fs::unlinkat(parent, name, AtFlags::REMOVEDIR) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The names in a listable folder, `.` and `..` left out.
pub(crate) fn names(dir: &OwnedFd) -> io::Result<Vec<std::ffi::CString>> {
    let mut out = Vec::new();
    let mut reader = rustix::fs::Dir::read_from(dir)?;
    while let Some(entry) = reader.read() {
        let entry = entry?;
        let name = entry.file_name();
        if name != c"." && name != c".." {
            out.push(name.to_owned());
        }
    }
    Ok(out)
}
