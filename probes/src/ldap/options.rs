//! Settings of the `ldap` probe.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::options::{Flag, Section};

/// Settings of the `ldap` probe.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LdapOptions {
    /// Run the StartTLS extended operation first and go on inside TLS (through the TLS engine,
    /// the check's `tls:` settings apply): a refusal, or a certificate that does not verify,
    /// fails the check. Not with `over: tls` (ldaps), which is TLS from the first byte.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub starttls: bool,
}

/// The `ldap` section and its command-line flags.
pub static SECTION: Section = Section::of::<LdapOptions>("ldap", FLAGS);

const FLAGS: &[Flag] = &[Flag::switch(
    "starttls",
    "starttls",
    "LDAP: run StartTLS first and go on inside TLS; a refusal or an unverified certificate fails the check",
)];
