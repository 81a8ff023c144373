//! The podkit-git binary: [`podkit_git::main`] with the process's arguments.

fn main() {
    podkit_git::main(std::env::args_os().collect())
}
