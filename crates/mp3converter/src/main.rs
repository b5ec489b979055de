//! The `mp3converter` binary: a thin `main` over the library's command-line entry point.

fn main() -> std::process::ExitCode {
    mp3converter::cli::run()
}
