//! The podkit-reload binary: [`podkit_reload::main`] with the process's arguments.

fn main() {
    podkit_reload::main(std::env::args_os().collect())
}
