//! mp3converter's composition root: the command line, and (as the service grows) configuration,
//! telemetry and the roles it wires together.

#![forbid(unsafe_code)]

pub mod app;
pub mod authenticator;
pub mod backends;
pub mod cli;
pub mod config;
pub mod first_admin;
pub mod http;
pub mod ops;
pub mod roles;
pub mod shutdown;
pub mod starting;
pub mod telemetry;
