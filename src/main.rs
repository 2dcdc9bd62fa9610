// jemalloc: at 100,000 nodes glibc's malloc took a third of plan's time
// and left more memory resident (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    std::process::exit(cutover::cli::main());
}
