//! The podkit-ambassador binary: [`podkit_ambassador::main`] with the process's arguments.

// musl's allocator takes one lock for every allocation; rustls allocates per TLS record and the
// copy loop per burst, from every worker thread.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    podkit_ambassador::main(std::env::args_os().collect())
}
