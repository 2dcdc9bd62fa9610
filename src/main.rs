fn main() {
    std::process::exit(cutover::cli::main());
}
