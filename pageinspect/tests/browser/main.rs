//! Browser probes against real pages in a real headless Chromium, through the HTTP API.

mod egress;
mod helpers;
mod pages;
mod stop;
