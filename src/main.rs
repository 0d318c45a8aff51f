//! The abprop command line: parses the arguments and dispatches to the subcommand's `run` in
//! `abprop::cli` (one file per subcommand); everything a command does is in the library.

use abprop::cli::{self, Cli, Command};
use clap::Parser;

fn main() {
    let result = match Cli::parse().command {
        Command::Train(a) => cli::train::run(a),
        Command::Synthesize(a) => cli::synthesize::run(a),
        Command::Interpolate(a) => cli::interpolate::run(a),
        Command::Reconstruct(a) => cli::reconstruct::run(a),
        Command::Presets(a) => cli::presets::run(a),
        Command::Devices => cli::devices::run(),
        Command::Bench(b) => cli::bench::run(b),
        Command::Dynamics(d) => cli::dynamics::run(d),
        Command::Eval(a) => cli::eval::run(a),
    };
    if let Err(e) = result {
        eprintln!("abprop: error: {e:#}");
        std::process::exit(1);
    }
}
