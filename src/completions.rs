//! `portproof completions SHELL`: a completion script made from the CLI definition itself, so
//! every subcommand and every probe flag the registry adds at runtime is in it without an edit.

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;

/// The completion script for `shell`, as the shell sources it.
pub fn script(shell: Shell) -> String {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "portproof", &mut out);
    String::from_utf8(out).expect("clap_complete writes UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shell_gets_a_script_naming_the_subcommands() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let s = script(shell);
            for sub in Cli::command().get_subcommands() {
                assert!(s.contains(sub.get_name()), "{shell}: {}", sub.get_name());
            }
        }
    }
}
