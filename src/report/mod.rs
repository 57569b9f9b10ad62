//! Reports rendered from results records: they only read, never measure. One exporter per
//! format behind one trait (an open set); charts and lecture notes feed the HTML one.

pub mod charts;
pub mod csv;
pub mod export;
pub mod html;
pub mod markdown;
pub mod model;
pub mod notes;
pub mod terminal;
