//! Gateway tests: the router driven in-process (`tower::ServiceExt::oneshot`) over temp backends.

mod accounts;
mod authz;
mod common;
mod counters;
mod download;
mod estimate;
mod events;
mod feed;
mod http;
mod keep;
mod misc;
mod shares;
mod signed;
mod streaming;
mod tus;
mod tus_cover;
mod upload;
mod web;
