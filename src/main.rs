//! The `gatehouse` binary: parse the command line and hand over to the library.

/// mimalloc: the gateway allocates per request on every worker thread; glibc malloc spent 13-15 % of the CPU of a
/// proxied request in locks and bookkeeping (docs/BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    gatehouse::cli::run()
}
