//! A real headless Chromium driven over the DevTools protocol (chromiumoxide), for console
//! tests that sign in through the forms as a person would.

use chromiumoxide::browser::{Browser, BrowserConfig};
use chromiumoxide::page::Page;
use futures::StreamExt;
use std::time::Duration;

pub fn chromium() -> String {
    std::env::var("HAS_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into())
}

pub struct TestBrowser {
    pub browser: Browser,
    _profile: tempfile::TempDir,
    _handler: tokio::task::JoinHandle<()>,
}

impl TestBrowser {
    pub async fn launch() -> Self {
        let profile = tempfile::tempdir().expect("profile dir");
        let config = BrowserConfig::builder()
            .chrome_executable(chromium())
            .no_sandbox()
            .args([
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--password-store=basic",
            ])
            .window_size(1280, 1000)
            .user_data_dir(profile.path())
            .launch_timeout(Duration::from_secs(60))
            .request_timeout(Duration::from_secs(30))
            .build()
            .expect("browser config");
        let (browser, mut handler) = Browser::launch(config).await.unwrap_or_else(|e| {
            panic!(
                "cannot start {} (scripts/test installs it): {e}",
                chromium()
            )
        });
        let handle = tokio::spawn(async move { while handler.next().await.is_some() {} });
        Self {
            browser,
            _profile: profile,
            _handler: handle,
        }
    }

    pub async fn open(&self, url: &str) -> Page {
        let page = self.browser.new_page(url).await.expect("page opens");
        let _ = page.wait_for_navigation().await;
        page
    }
}

/// Clicks the element `selector` finds (`what` names it when it is missing).
pub async fn click(page: &Page, selector: &str, what: &str) {
    page.find_element(selector)
        .await
        .unwrap_or_else(|e| panic!("{what} ({selector}): {e}"))
        .click()
        .await
        .expect("click");
}

/// Types `text` into the field `selector` finds.
pub async fn type_into(page: &Page, selector: &str, what: &str, text: &str) {
    click(page, selector, what).await;
    page.find_element(selector)
        .await
        .expect("the field just clicked")
        .type_str(text)
        .await
        .expect("type");
}

/// Fills the sign-in form of the page on screen and submits it; waits for the next page.
pub async fn sign_in(page: &Page, username: &str, password: &str) {
    type_into(
        page,
        "#username",
        "the sign-in form's username field",
        username,
    )
    .await;
    type_into(page, "#password", "the password field", password).await;
    click(
        page,
        "form[action='/login'] button[type=submit]",
        "submit button",
    )
    .await;
    // The next page has no sign-in form (or shows it again with an error).
    crate::eventually(
        Duration::from_secs(20),
        "the page after signing in",
        || async {
            let html = page.content().await.ok()?;
            (!html.contains("action=\"/login\"") || html.contains("role=\"alert\"")).then_some(())
        },
    )
    .await;
}

/// From acmangkut's sign-in page on screen: follows "Sign in with the identity provider"
/// (`#sso`), signs in on the provider's own form as `username` (any password), grants consent
/// if the provider asks, and waits until the browser is back on `acmangkut` (its base URL).
pub async fn sign_in_with_provider(page: &Page, acmangkut: &str, username: &str) {
    let click_sso = || {
        click(
            page,
            "#sso",
            "the sign-in page's link to the identity provider",
        )
    };
    click_sso().await;
    // On a loaded machine the first click can land before the page is interactive: click
    // again when the browser is still on acmangkut after a while.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut clicked = tokio::time::Instant::now();
    let login = loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after 60 s waiting for the provider's login form"
        );
        let url = page.url().await.ok().flatten().unwrap_or_default();
        if url.starts_with(acmangkut) {
            if clicked.elapsed() > Duration::from_secs(8) {
                clicked = tokio::time::Instant::now();
                click_sso().await;
            }
        } else if let Ok(field) = page.find_element("input[name=login]").await {
            break field;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    login
        .click()
        .await
        .expect("click")
        .type_str(username)
        .await
        .expect("type");
    let password = "input[name=password]";
    type_into(
        page,
        password,
        "the provider's password field",
        "any password",
    )
    .await;
    click(page, "button[type=submit]", "the provider's submit button").await;
    crate::eventually(
        Duration::from_secs(20),
        "the browser back on acmangkut",
        || async {
            let url = page.url().await.ok()??;
            if url.starts_with(acmangkut) && !url.contains("/auth/oidc/") {
                return Some(());
            }
            // oidc-provider's consent page, should it ask.
            if let Ok(button) = page
                .find_element("form input[name=prompt][value=consent] ~ button")
                .await
            {
                let _ = button.click().await;
            }
            None
        },
    )
    .await;
}

/// The page's current DOM as HTML (retried while a navigation replaces the document).
pub async fn dom(page: &Page) -> String {
    crate::eventually(Duration::from_secs(20), "the page's DOM", || async {
        page.content().await.ok()
    })
    .await
}
