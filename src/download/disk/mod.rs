//! Where bytes land: the output directory, opened once (`root`); every name under it reached
//! from that descriptor without following a link (`at`, `place`); the `.part` a download
//! writes, its lock and its no-clobber placement (`part`); and the record of a split
//! download's ranges beside it (`record`). Nothing here speaks HTTP.

pub mod at;
pub mod part;
pub mod place;
pub mod record;
pub mod root;
