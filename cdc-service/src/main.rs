//! `cdc-collector`: the service binary. Everything is in the library (`cdc_service::cli`).

fn main() -> std::process::ExitCode {
    cdc_service::cli::main()
}
