//! The `gatehouse` binary: parse the command line and hand over to the library; an error is one message on stderr
//! (its causes joined, never a backtrace) and exit status 1.

use std::process::ExitCode;

/// mimalloc: the gateway allocates per request on every worker thread; glibc malloc spent 13-15 % of the CPU of a
/// proxied request in locks and bookkeeping (docs/BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    match gatehouse::cli::run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{}", gatehouse::cli::describe(&error));
            ExitCode::FAILURE
        }
    }
}
