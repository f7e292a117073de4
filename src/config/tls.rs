//! What a PostgreSQL connection does about TLS, as the configuration says it (`DB_SSLMODE`,
//! `DB_REQUIRE_SSL`, `DB_SSLROOTCERT`): libpq's `sslmode` names and meanings. The connector that
//! carries them out is [`crate::db::tls`].

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// How a connection uses TLS; the names and meanings are libpq's `sslmode`.
///
/// The variants are ordered from weakest to strongest protection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SslMode {
    /// Plaintext only.
    Disable,
    /// TLS when the server offers it, plaintext otherwise; the certificate is
    /// not checked.
    #[default]
    Prefer,
    /// TLS or no connection; the certificate is not checked.
    Require,
    /// TLS with a certificate chain that leads to a trusted root; the host
    /// name is not checked.
    VerifyCa,
    /// TLS with a trusted certificate chain issued for the host connected to.
    VerifyFull,
}

impl SslMode {
    /// Every mode, weakest first.
    pub const ALL: [SslMode; 5] = [
        SslMode::Disable,
        SslMode::Prefer,
        SslMode::Require,
        SslMode::VerifyCa,
        SslMode::VerifyFull,
    ];

    /// The libpq spelling of the mode, e.g. `verify-full`.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    /// Whether the server's certificate chain is checked against trusted roots.
    pub fn verifies_certificate(self) -> bool {
        matches!(self, SslMode::VerifyCa | SslMode::VerifyFull)
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SslMode {
    type Err = ParseSslModeError;

    /// Parses a libpq mode name, ignoring surrounding blanks and ASCII case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim();
        SslMode::ALL
            .into_iter()
            .find(|mode| mode.as_str().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| ParseSslModeError {
                value: s.to_owned(),
            })
    }
}

/// A string that is not one of the libpq `sslmode` names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid sslmode `{value}`: expected one of disable, prefer, require, verify-ca, verify-full"
)]
pub struct ParseSslModeError {
    /// The rejected text.
    pub value: String,
}

/// What a PostgreSQL connection does about TLS.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// The libpq `sslmode`.
    pub mode: SslMode,
    /// PEM file with the trusted root certificates for `verify-ca` and
    /// `verify-full`; `None` means the system trust store. Ignored by the
    /// other modes.
    pub root_cert: Option<PathBuf>,
}

impl TlsSettings {
    /// Settings for `mode` that trust the system's root certificates.
    pub fn new(mode: SslMode) -> Self {
        TlsSettings {
            mode,
            root_cert: None,
        }
    }
}
