//! The integration tests: one binary, one module per area.

#[path = "../support/mod.rs"]
mod support;

mod bounces;
mod check;
mod clicks;
mod freeze;
mod images;
mod import;
mod inbox;
mod markdown;
mod opens;
mod parity;
mod preview;
mod render;
mod report;
mod resume;
mod send;
mod sink;
mod smtp;
mod unsubscribe;
mod web;
