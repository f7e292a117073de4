//! MapaGov: a GraphQL server for POPs (Procedimentos Operacionais Padrão).
//!
//! See `ARCHITECTURE.md` for the map of the code. Requests travel HTTP ([`http`]) → resolver
//! ([`graphql`]) → one domain function ([`domain`]) that owns its transaction → queries ([`db`]).

pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod graphql;
pub mod http;
pub mod legacy;
pub mod live;
pub mod notify;
pub mod ops;
pub mod pdf;
pub mod server;
pub mod telemetry;
pub mod transfer;
