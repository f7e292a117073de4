//! Moving data in and out: the Django import, dumps and loads, copies between backends,
//! checksums, verification and restore drills.

pub mod checksum;
pub mod copy;
pub mod dump;
pub mod import;
pub mod load;
pub mod report;
pub mod rows;
pub mod snapshot_read;
pub mod verify;
