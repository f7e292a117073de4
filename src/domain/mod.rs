//! The rules of MapaGov, free of HTTP and GraphQL: the legacy document and its hash, autosave,
//! snapshots, restore, diff and the status workflow. Each write is one function that owns its
//! transaction.

pub mod diff;
pub mod document;
pub mod hash;
pub mod pops;
