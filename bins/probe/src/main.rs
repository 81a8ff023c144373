//! The podkit-probe binary: [`podkit_probe::main`] with the process's arguments.

fn main() {
    podkit_probe::main(std::env::args_os().collect())
}
