//! Reports rendered from results records: they only read, never measure.

pub mod terminal;
