//! Gateway tests: the router driven in-process (`tower::ServiceExt::oneshot`) over temp backends.

mod accounts;
mod authz;
mod common;
mod counters;
mod dedup;
mod download;
mod estimate;
mod events;
mod feed;
mod http;
mod keep;
mod keys;
mod misc;
mod quotas;
mod shares;
mod signed;
mod streaming;
mod tus;
mod tus_cover;
mod upload;
mod web;
mod webhooks;
mod webhooks_e2e;
