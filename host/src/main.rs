fn main() {
    std::process::exit(conduit::cli::run());
}
