//! The `portproof` binary: flags in, exit code out; everything else lives in the library.

fn main() -> std::process::ExitCode {
    portproof::cli::main()
}
