//! Browser probes against real pages in a real headless Chromium, through the HTTP API.
//!
//! Every test runs on Debian's `chromium-headless-shell` (pageinspect's default); a
//! representative set (a page load, JavaScript errors and the screenshot, steps through a
//! navigation, failed requests, the egress guard) also on the full `chromium`, which the docs
//! list as supported: `<test>::headless_shell` and `<test>::full`.

/// For each `async fn name(chromium: Chromium)` of the calling module, a module `name` with a
/// test per binary: `name::headless_shell` and `name::full`.
macro_rules! each_chromium {
    ($($test:ident),+ $(,)?) => {
        $(
            mod $test {
                use crate::helpers::Chromium;

                #[tokio::test]
                async fn headless_shell() {
                    super::$test(Chromium::HeadlessShell).await;
                }

                #[tokio::test]
                async fn full() {
                    super::$test(Chromium::Full).await;
                }
            }
        )+
    };
}

mod egress;
mod helpers;
mod pages;
mod stop;
