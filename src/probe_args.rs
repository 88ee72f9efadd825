//! The command-line flags of every probe's settings, made from the registry: each probe
//! declares its flags beside its settings type, so adding a protocol adds its flags here without
//! an edit, and `--set PROBE.KEY=VALUE` reaches every setting a manifest can write.

use clap::{Arg, ArgAction, ArgMatches, Args, Command, FromArgMatches};
use portproof_probes::{Flag, Options, Probe, Section};

/// The probes' flags as given on the command line, in the order clap knows them.
#[derive(Debug, Clone, Default)]
pub struct ProbeArgs {
    /// `(long name, values)` for every probe flag that was given.
    pub given: Vec<(&'static str, Vec<String>)>,
    /// `--set PROBE.KEY=VALUE`, in the order given.
    pub set: Vec<String>,
}

/// Every flag of every section, once per long name (probes may share one, like `--database`).
fn all_flags() -> Vec<&'static Flag> {
    let mut out: Vec<&'static Flag> = Vec::new();
    for s in portproof_probes::sections() {
        for f in s.flags {
            if !out.iter().any(|o| o.long == f.long) {
                out.push(f);
            }
        }
    }
    out
}

impl Args for ProbeArgs {
    fn augment_args(mut cmd: Command) -> Command {
        for f in all_flags() {
            let mut arg = Arg::new(f.long).long(f.long).help(f.help).help_heading("Probe settings");
            if let Some(c) = f.short {
                arg = arg.short(c);
            }
            arg = if f.kind.takes_value() {
                let a = arg.value_name(f.value_name).action(if f.repeat { ArgAction::Append } else { ArgAction::Set });
                if f.possible.is_empty() { a } else { a.value_parser(f.possible.to_vec()) }
            } else {
                arg.action(ArgAction::SetTrue)
            };
            cmd = cmd.arg(arg);
        }
        cmd.arg(
            Arg::new("set")
                .long("set")
                .value_name("PROBE.KEY=VALUE")
                .action(ArgAction::Append)
                .help_heading("Probe settings")
                .help("Any setting of the probe's manifest section, by its path: --set http.path=/StatusPing, --set modbus.unit=7 (repeatable)"),
        )
    }
    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

impl FromArgMatches for ProbeArgs {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let mut given = Vec::new();
        for f in all_flags() {
            if f.kind.takes_value() {
                if let Some(v) = m.get_many::<String>(f.long) {
                    given.push((f.long, v.cloned().collect()));
                }
            } else if m.get_flag(f.long) {
                given.push((f.long, Vec::new()));
            }
        }
        let set = m.get_many::<String>("set").map(|v| v.cloned().collect()).unwrap_or_default();
        Ok(ProbeArgs { given, set })
    }
    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl ProbeArgs {
    /// Whether any probe setting was given.
    pub fn is_empty(&self) -> bool {
        self.given.is_empty() && self.set.is_empty()
    }

    /// Builds `probe`'s section from `prefill` (what a URL implies), the flags, then `--set`.
    /// A flag or `--set` for another probe is an error naming whose it is.
    pub fn section_for(
        &self,
        probe: &'static dyn Probe,
        expect: &str,
        prefill: &[(&'static str, String)],
    ) -> Result<Option<(String, Options)>, String> {
        let section: Option<&'static Section> = probe.options();
        if self.is_empty() && prefill.is_empty() {
            return Ok(None);
        }
        let owners = |long: &str| -> String {
            let o: Vec<&str> = portproof_probes::sections()
                .filter(|s| s.flags.iter().any(|f| f.long == long))
                .map(|s| s.name)
                .collect();
            o.join(", ")
        };
        let Some(section) = section else {
            return Err(match (self.given.first(), self.set.first()) {
                (Some((long, _)), _) => {
                    format!("--{long} is a setting of {}, but the check expects {expect}", owners(long))
                }
                (None, Some(s)) => format!("--set {s}: the {} probe takes no settings", probe.name()),
                (None, None) => format!("a URL names the {} probe, which takes no settings", probe.name()),
            });
        };
        let mut map = serde_json::Map::new();
        for (key, value) in prefill {
            section.set_scalar(&mut map, key, value)?;
        }
        for (long, values) in &self.given {
            let Some(flag) = section.flags.iter().find(|f| f.long == *long) else {
                return Err(format!("--{long} is a setting of {}, but the check expects {expect}", owners(long)));
            };
            section.apply_flag(&mut map, flag, values)?;
        }
        for s in &self.set {
            let (path, value) = s
                .split_once('=')
                .ok_or_else(|| format!("--set {s:?}: write PROBE.KEY=VALUE, like http.path=/StatusPing"))?;
            let (owner, key) = path
                .split_once('.')
                .ok_or_else(|| format!("--set {s:?}: name the probe first, like {}.KEY", section.name))?;
            if owner != section.name {
                return Err(format!(
                    "--set {s:?}: {owner:?} is not the section of this check's probe ({})",
                    section.name
                ));
            }
            section.set_scalar(&mut map, key, value).map_err(|e| format!("--set {path}: {e}"))?;
        }
        let options =
            section.from_json(serde_json::Value::Object(map)).map_err(|e| format!("{}: {e}", section.name))?;
        Ok(Some((section.name.to_owned(), options)))
    }
}
