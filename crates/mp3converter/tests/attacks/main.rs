//! Attack tests against the whole service over real HTTP (every role in-process, real tokens):
//! hostile file names, SQL injection strings, other users' job ids, oversized and slow
//! requests. Each test states what must hold; all of them must fail against a service that has
//! the flaw.

mod common;
mod idor;
mod injection;
mod limits;
mod names;
mod tokens;
