//! The podkit-metrics binary: [`podkit_metrics::main`] with the process's arguments.

fn main() {
    podkit_metrics::main(std::env::args_os().collect())
}
