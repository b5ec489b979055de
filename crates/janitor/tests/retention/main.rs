//! The janitor on real backends (a scratch SQLite database, files in a temp dir) with the clock
//! injected: each pass is run "as of" a chosen time instead of waiting for it.

mod expiry;
mod support;
mod sweep;
