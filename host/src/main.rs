fn main() {
    // When the reader of our output goes away (`conduit ... | head`), end
    // quietly as other Unix tools do instead of panicking on the failed write.
    // A sync killed this way is no different from any other kill: nothing
    // half-copied is ever visible.
    #[cfg(unix)]
    // SAFETY: restores the default disposition before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    std::process::exit(conduit::cli::run());
}
