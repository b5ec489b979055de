//! Integration tests of the auth crate on a temporary SQLite database: the service, the tokens
//! (every forgery the verifier must refuse) and the HTTP routes; the canonical email on every
//! database engine.

mod common;
mod revocation;
mod routes;
mod service;
mod tokens;
mod variants;
