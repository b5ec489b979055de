//! Requests at the door (issue 10): what a stranger can send before any job exists. The client
//! address behind reverse proxies (`server.trusted_proxies`), multipart bodies built to exhaust
//! memory, and conversion options that must be refused at upload time (API, course route, CLI).
//! Each test sends the attack as a client would, over HTTP or through the real binary.

mod multipart;
mod options;
mod proxies;
