//! The podkit-init binary: [`podkit_init::main`] with the process's arguments.

fn main() {
    podkit_init::main(std::env::args_os())
}
