// jemalloc: at 100,000 nodes glibc's malloc took a third of plan's time
// and left more memory resident (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

// One arena rather than four per core: at 100,000 nodes a plan keeps about
// 10 MB (4 %) less resident, and steadily so, for about 4 % more time; an
// apply of 10,000 steps takes as long. `_RJEM_MALLOC_CONF` still overrides it.
#[unsafe(export_name = "_rjem_malloc_conf")]
#[allow(non_upper_case_globals)]
static malloc_conf: &[u8; 10] = b"narenas:1\0";

fn main() {
    std::process::exit(cutover::cli::main());
}
