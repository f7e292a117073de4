//! Observability: Prometheus metrics ([`metrics`]), the GraphQL operation each request ran and
//! its bounded label ([`operation`]), and error reporting to Sentry ([`sentry`]).
//!
//! The HTTP side (request ids, the one log line per request, `/metrics`, `/readyz`) lives in
//! `src/http`; this module holds what it records into.

pub mod metrics;
pub mod operation;
pub mod sentry;
