//! A probe's settings, owned by the probe and carried by [`crate::Target`] without a field per
//! protocol.
//!
//! Each probe that takes settings names one [`Section`]: the key of its manifest section
//! (`amqp: { vhost: /prod }`), the Rust type the section deserializes into, its JSON Schema,
//! and the command-line [`Flag`]s that set it. The manifest, the command line, `--set` and the
//! schema all go through that one descriptor, so they cannot disagree about a probe's settings,
//! and a new protocol adds its settings without an edit outside its folder.

use std::any::Any;
use std::fmt;

use schemars::{JsonSchema, Schema};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A probe's settings value, erased so that one [`crate::Target`] field carries any probe's.
pub trait ProbeOptions: Any + Send + Sync + fmt::Debug {
    /// The value as `Any`, for [`crate::Target::options`].
    fn as_any(&self) -> &dyn Any;
    /// A boxed copy.
    fn clone_box(&self) -> Box<dyn ProbeOptions>;
    /// Whether `other` is the same type with the same settings.
    fn eq_dyn(&self, other: &dyn ProbeOptions) -> bool;
    /// The settings as they would be written in a manifest.
    fn to_json(&self) -> serde_json::Value;
}

impl<T: Any + Send + Sync + fmt::Debug + Clone + PartialEq + Serialize> ProbeOptions for T {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn clone_box(&self) -> Box<dyn ProbeOptions> {
        Box::new(self.clone())
    }
    fn eq_dyn(&self, other: &dyn ProbeOptions) -> bool {
        other.as_any().downcast_ref::<T>().is_some_and(|o| o == self)
    }
    fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// One probe's settings, as [`crate::Target`] carries them.
pub struct Options(Box<dyn ProbeOptions>);

impl Options {
    /// Wraps a probe's settings value.
    pub fn new<T: ProbeOptions>(value: T) -> Self {
        Options(Box::new(value))
    }
    /// The value, when it is a `T`.
    pub fn get<T: 'static>(&self) -> Option<&T> {
        self.0.as_any().downcast_ref::<T>()
    }
    /// The settings as they would be written in a manifest.
    pub fn to_json(&self) -> serde_json::Value {
        self.0.to_json()
    }
}

impl Clone for Options {
    fn clone(&self) -> Self {
        Options(self.0.clone_box())
    }
}

impl PartialEq for Options {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_dyn(other.0.as_ref())
    }
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The keys a flag sets, as `(dotted key, value)`.
pub type Sets = Vec<(&'static str, serde_json::Value)>;

/// A flag's own reading of its values.
pub type CustomFn = fn(&[String]) -> Result<Sets, String>;

/// What a command-line flag does with the values it was given.
#[derive(Clone, Copy)]
pub enum FlagKind {
    /// `--flag VALUE`: sets the section's key (a number, `true`/`false` or text, whichever the
    /// key takes).
    Value,
    /// `--flag VALUE`, repeatable: appends to the section's list.
    List,
    /// `--flag`: sets the key to `true`.
    Switch,
    /// `--flag`: sets the key to `false` (`--no-follow` for `follow_redirects`).
    SwitchOff,
    /// Takes values and returns the keys to set, for flags whose value has a shape of its own
    /// (`--json-field state=RUNNING`, `--header Name:Value`); the error names what is wrong.
    Custom(CustomFn),
    /// A switch that returns the keys to set.
    CustomSwitch(fn() -> Vec<(&'static str, serde_json::Value)>),
}

impl FlagKind {
    /// Whether the flag takes a value.
    pub fn takes_value(&self) -> bool {
        !matches!(self, FlagKind::Switch | FlagKind::SwitchOff | FlagKind::CustomSwitch(_))
    }
    /// Whether the flag may be given more than once, by its kind alone (lists).
    pub fn repeats(&self) -> bool {
        matches!(self, FlagKind::List)
    }
}

/// A command-line flag a probe offers for a key of its section. Probes may offer the same flag
/// (`--database` for postgres, mysql and mssql): the command line defines it once.
#[derive(Clone, Copy)]
pub struct Flag {
    /// The long name, without dashes.
    pub long: &'static str,
    /// A short letter, rarely.
    pub short: Option<char>,
    /// The key of the section it sets (unused by `Custom`).
    pub key: &'static str,
    /// What it takes and does.
    pub kind: FlagKind,
    /// The value's placeholder in the help.
    pub value_name: &'static str,
    /// The values it accepts, for the help and early errors; empty for any.
    pub possible: &'static [&'static str],
    /// One line of help.
    pub help: &'static str,
    /// May be given more than once (every value reaches `Custom`); otherwise a second use is an
    /// error, never a silent replacement of the first.
    pub repeat: bool,
}

impl Flag {
    /// A `--long VALUE` flag that sets `key`.
    pub const fn value(long: &'static str, key: &'static str, value_name: &'static str, help: &'static str) -> Self {
        Flag { long, short: None, key, kind: FlagKind::Value, value_name, possible: &[], help, repeat: false }
    }
    /// A `--long` switch that sets `key` to true.
    pub const fn switch(long: &'static str, key: &'static str, help: &'static str) -> Self {
        Flag { long, short: None, key, kind: FlagKind::Switch, value_name: "", possible: &[], help, repeat: false }
    }
    /// The same flag, accepting only `possible`.
    pub const fn one_of(mut self, possible: &'static [&'static str]) -> Self {
        self.possible = possible;
        self
    }
    /// The same flag, repeatable, appending to a list.
    pub const fn list(mut self) -> Self {
        self.kind = FlagKind::List;
        self.repeat = true;
        self
    }
    /// The same flag, repeatable (its `Custom` reading gets every value).
    pub const fn repeatable(mut self) -> Self {
        self.repeat = true;
        self
    }
    /// The same flag with a short letter.
    pub const fn short(mut self, c: char) -> Self {
        self.short = Some(c);
        self
    }
    /// The same flag with its own handling of values.
    pub const fn custom(mut self, f: CustomFn) -> Self {
        self.kind = FlagKind::Custom(f);
        self
    }
}

impl fmt::Debug for Flag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "--{}", self.long)
    }
}

type DeFn = fn(&mut dyn erased_serde::Deserializer<'_>) -> Result<Options, erased_serde::Error>;
type FromJsonFn = fn(serde_json::Value) -> Result<Options, String>;
type SchemaFn = fn() -> Schema;

/// A probe's manifest section: its key, its type's deserializer and schema, and its flags.
pub struct Section {
    /// The manifest key (`http`, `amqp`, ...), the probe's name.
    pub name: &'static str,
    /// The flags that set it.
    pub flags: &'static [Flag],
    de: DeFn,
    from_json: FromJsonFn,
    schema: SchemaFn,
}

impl fmt::Debug for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Section({})", self.name)
    }
}

fn de_any<T: ProbeOptions + DeserializeOwned>(
    d: &mut dyn erased_serde::Deserializer<'_>,
) -> Result<Options, erased_serde::Error> {
    erased_serde::deserialize::<T>(d).map(Options::new)
}

fn from_json_any<T: ProbeOptions + DeserializeOwned>(v: serde_json::Value) -> Result<Options, String> {
    serde_json::from_value::<T>(v).map(Options::new).map_err(|e| e.to_string())
}

fn schema_any<T: JsonSchema>() -> Schema {
    let settings = schemars::generate::SchemaSettings::draft2020_12().with(|s| s.inline_subschemas = true);
    let mut s = settings.into_generator().into_root_schema_for::<T>();
    if let Some(o) = s.as_object_mut() {
        o.remove("$schema");
    }
    s
}

impl Section {
    /// The section `name`, deserialized into `T`, set from the command line by `flags`.
    pub const fn of<T: ProbeOptions + DeserializeOwned + JsonSchema>(
        name: &'static str,
        flags: &'static [Flag],
    ) -> Self {
        Section { name, flags, de: de_any::<T>, from_json: from_json_any::<T>, schema: schema_any::<T> }
    }

    /// Reads the section from any serde deserializer (a manifest's YAML keeps its positions).
    pub fn deserialize(&self, d: &mut dyn erased_serde::Deserializer<'_>) -> Result<Options, erased_serde::Error> {
        (self.de)(d)
    }

    /// Builds the section from JSON (the command line's flags and `--set`).
    pub fn from_json(&self, v: serde_json::Value) -> Result<Options, String> {
        (self.from_json)(v)
    }

    /// The section's JSON Schema, subschemas inlined.
    pub fn schema(&self) -> Schema {
        (self.schema)()
    }

    /// Applies `values` of flag `flag` to the section being built in `map`.
    pub fn apply_flag(
        &self,
        map: &mut serde_json::Map<String, serde_json::Value>,
        flag: &Flag,
        values: &[String],
    ) -> Result<(), String> {
        let pairs = match flag.kind {
            FlagKind::Switch => vec![(flag.key, serde_json::Value::Bool(true))],
            FlagKind::SwitchOff => vec![(flag.key, serde_json::Value::Bool(false))],
            FlagKind::CustomSwitch(f) => f(),
            FlagKind::Custom(f) => f(values).map_err(|e| format!("--{}: {e}", flag.long))?,
            FlagKind::Value => {
                let v = values.last().ok_or_else(|| format!("--{} needs a value", flag.long))?;
                if !flag.possible.is_empty() && !flag.possible.contains(&v.as_str()) {
                    return Err(format!("--{} {v:?}: expected one of {}", flag.long, flag.possible.join(", ")));
                }
                return self.set_scalar(map, flag.key, v).map_err(|e| format!("--{} {v:?}: {e}", flag.long));
            }
            FlagKind::List => {
                let list = values.iter().map(|v| scalar(v)).collect();
                vec![(flag.key, serde_json::Value::Array(list))]
            }
        };
        for (k, v) in pairs {
            set_path(map, k, v);
        }
        Ok(())
    }

    /// Sets `path` (dotted, as in the manifest: `json.pointer`) to `text`, read as the key's
    /// type wants it: first as a YAML scalar (`7`, `true`), then as plain text (`"5"`).
    pub fn set_scalar(
        &self,
        map: &mut serde_json::Map<String, serde_json::Value>,
        path: &str,
        text: &str,
    ) -> Result<(), String> {
        let mut last_err = String::new();
        for candidate in [scalar(text), serde_json::Value::String(text.to_owned())] {
            let mut trial = map.clone();
            set_path(&mut trial, path, candidate);
            match self.from_json(serde_json::Value::Object(trial.clone())) {
                Ok(_) => {
                    *map = trial;
                    return Ok(());
                }
                Err(e) => last_err = e,
            }
        }
        Err(last_err)
    }
}

/// `text` as YAML would read a plain scalar: a number, a boolean, null, else a string.
pub fn scalar(text: &str) -> serde_json::Value {
    match text {
        "true" => return serde_json::Value::Bool(true),
        "false" => return serde_json::Value::Bool(false),
        _ => {}
    }
    if let Ok(n) = text.parse::<i64>() {
        return n.into();
    }
    if let Ok(f) = text.parse::<f64>()
        && f.is_finite()
        && text.contains('.')
        && !text.ends_with('.')
    {
        return f.into();
    }
    serde_json::Value::String(text.to_owned())
}

/// Sets a dotted path in a JSON object, making the objects on the way.
pub fn set_path(map: &mut serde_json::Map<String, serde_json::Value>, path: &str, value: serde_json::Value) {
    match path.split_once('.') {
        None => {
            map.insert(path.to_owned(), value);
        }
        Some((head, rest)) => {
            let entry = map.entry(head.to_owned()).or_insert_with(|| serde_json::Value::Object(Default::default()));
            if !entry.is_object() {
                *entry = serde_json::Value::Object(Default::default());
            }
            if let serde_json::Value::Object(m) = entry {
                set_path(m, rest, value);
            }
        }
    }
}
