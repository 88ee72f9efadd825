//! `portproof man`: the manual page in roff, made from the CLI definition, with one section per
//! subcommand so `man portproof` documents every flag `--help` shows, probe flags included.

use clap::CommandFactory;
use clap_mangen::Man;

use crate::cli::Cli;

/// The whole manual page: the top-level page, then each subcommand's options and description.
pub fn page() -> String {
    let cmd = Cli::command();
    let mut out = Vec::new();
    let man = Man::new(cmd.clone());
    man.render(&mut out).expect("writing to a Vec cannot fail");
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        // Each subcommand under its own heading, so one page holds the whole CLI (as `git help`
        // pages do not, but a single binary's users expect of `man portproof`).
        let name = format!("portproof {}", sub.get_name());
        let sub = sub.clone().bin_name(name.clone());
        out.extend_from_slice(format!(".SH \"{}\"\n", name.to_uppercase()).as_bytes());
        let sub_man = Man::new(sub);
        sub_man.render_synopsis_section(&mut out).expect("writing to a Vec cannot fail");
        sub_man.render_description_section(&mut out).expect("writing to a Vec cannot fail");
        sub_man.render_options_section(&mut out).expect("writing to a Vec cannot fail");
    }
    String::from_utf8(out).expect("clap_mangen writes UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_starts_with_its_title_and_names_every_subcommand() {
        let p = page();
        assert!(p.lines().any(|l| l.starts_with(".TH portproof 1")), "{}", &p[..200]);
        for sub in Cli::command().get_subcommands() {
            assert!(p.contains(&format!("portproof {}", sub.get_name())), "{}", sub.get_name());
        }
    }
}
