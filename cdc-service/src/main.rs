//! `cdc-collector`: the service binary. Everything is in the library (`cdc_service::cli`).

/// mimalloc instead of glibc malloc: rows are allocated on the binlog reader's thread and freed
/// on the sink's, where glibc's arena locks cost about a fifth of decode time
/// (docs/benchmarks.md, "What was optimised").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cdc_service::cli::main()
}
