fn main() -> std::process::ExitCode {
    dbfleet_server::run()
}
