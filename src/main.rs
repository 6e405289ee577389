//! The `gatehouse` binary: parse the command line and hand over to the library.

fn main() -> anyhow::Result<()> {
    gatehouse::cli::run()
}
