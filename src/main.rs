/// mimalloc: a large plan makes millions of small allocations; with it
/// they take less time and less memory than with the system allocator
/// (BENCHMARKS.md, "Plan of 100,000 nodes").
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(cutover::cli::main());
}
