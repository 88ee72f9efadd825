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
        // `--set` items are gathered first and the section validated once: validated one by
        // one, a setting that needs a companion (`http.json.pointer` and its `equals`) could
        // never be given.
        let mut sets: Vec<(&str, &str)> = Vec::new();
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
            if sets.iter().any(|(k, _)| *k == key) {
                return Err(format!("--set {path} is given twice; give each setting once"));
            }
            sets.push((key, value));
        }
        let typed: Vec<serde_json::Value> = sets
            .iter()
            .map(|(key, value)| set_value(value).map_err(|e| format!("--set {}.{key}: {e}", section.name)))
            .collect::<Result<_, _>>()?;
        let options = match settle(section, &map, &sets, &typed) {
            Ok(options) => options,
            Err(e) if sets.is_empty() => return Err(format!("{}: {e}", section.name)),
            Err(e) => {
                let keys: Vec<String> = sets.iter().map(|(k, _)| format!("{}.{k}", section.name)).collect();
                return Err(format!("--set {}: {e}", keys.join(", ")));
            }
        };
        Ok(Some((section.name.to_owned(), options)))
    }
}

/// A `--set` value as the manifest would read it: `[200, 301]` and `{...}` as YAML flow
/// collections (so lists can be set), anything else as a plain scalar (`7`, `true`, text).
fn set_value(text: &str) -> Result<serde_json::Value, String> {
    if text.starts_with('[') || text.starts_with('{') {
        return yaml_serde::from_str(text).map_err(|e| format!("{text:?} is not a YAML list or map: {e}"));
    }
    Ok(portproof_probes::options::scalar(text))
}

/// The most combinations of "this value was meant as text" tried (2^N for N typed values).
const MAX_RETYPED: usize = 6;

/// Builds the section from the flags' `map` and every `--set` at once. A value that reads as a
/// number or boolean may be meant as text (`--set mqtt.client_id=5`): when the typed reading
/// does not validate, the fewest values are read as text instead, until one reading does. The
/// error given is the typed reading's, which names what is wrong with the value ("invalid
/// value: integer 300, expected u8") rather than a complaint about a string.
fn settle(
    section: &Section,
    map: &serde_json::Map<String, serde_json::Value>,
    sets: &[(&str, &str)],
    typed: &[serde_json::Value],
) -> Result<Options, String> {
    let build = |as_text: &[bool]| {
        let mut m = map.clone();
        for (i, ((key, text), value)) in sets.iter().zip(typed).enumerate() {
            let v = if as_text[i] { serde_json::Value::String((*text).to_owned()) } else { value.clone() };
            portproof_probes::options::set_path(&mut m, key, v);
        }
        section.from_json(serde_json::Value::Object(m))
    };
    let first = build(&vec![false; sets.len()]);
    let retypable: Vec<usize> = (0..sets.len()).filter(|&i| !typed[i].is_string()).collect();
    if first.is_ok() || retypable.is_empty() || retypable.len() > MAX_RETYPED {
        return first;
    }
    let mut masks: Vec<u32> = (1..(1u32 << retypable.len())).collect();
    masks.sort_by_key(|m| m.count_ones());
    for mask in masks {
        let mut as_text = vec![false; sets.len()];
        for (bit, &i) in retypable.iter().enumerate() {
            as_text[i] = mask & (1 << bit) != 0;
        }
        if let Ok(options) = build(&as_text) {
            return Ok(options);
        }
    }
    first
}
