//! A headless Chromium driven over WebDriver for the console's end-to-end test: `chromedriver` spawned on a free
//! port, one session, and the few waits and clicks the test needs. Teardown ends the session, then asks chromedriver
//! to shut down (it quits the browsers it started) and waits for it, killing only that child by its id if it hangs.
//! Without Chromium or chromedriver, [`Browser::start`] skips (None) with a loud message, unless
//! `GATEHOUSE_REQUIRE_SERVICES` is set, where it fails.

use std::future::Future;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// How long any wait for the page lasts before the test fails.
const PATIENCE: Duration = Duration::from_secs(15);

pub struct Browser {
    pub client: Client,
    driver: Child,
    port: u16,
    /// Where screenshots go: `docs/console/` with `GATEHOUSE_SCREENSHOTS=1`, else a temp directory.
    shots: PathBuf,
}

/// `names` found on `PATH` (or the path in the environment variable `env`), first match.
fn binary(env: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(env) {
        return Some(PathBuf::from(path)).filter(|p| p.is_file());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

impl Browser {
    /// A browser session, or None (after saying so loudly) when Chromium or chromedriver is not installed and
    /// `GATEHOUSE_REQUIRE_SERVICES` is unset.
    pub async fn start() -> Option<Browser> {
        let chromium = binary(
            "GATEHOUSE_CHROMIUM",
            &["chromium", "chromium-browser", "google-chrome", "chrome"],
        );
        let chromedriver = binary("GATEHOUSE_CHROMEDRIVER", &["chromedriver"]);
        let (Some(chromium), Some(chromedriver)) = (chromium, chromedriver) else {
            let message = "the console's browser test needs Chromium and chromedriver \
                           (apt-get install chromium chromium-driver; or set GATEHOUSE_CHROMIUM/GATEHOUSE_CHROMEDRIVER)";
            if std::env::var_os("GATEHOUSE_REQUIRE_SERVICES").is_some() {
                panic!("{message}, and GATEHOUSE_REQUIRE_SERVICES is set");
            }
            eprintln!("\n{bar}\nSKIPPED: {message}.\n{bar}\n", bar = "!".repeat(100));
            return None;
        };
        let port = free_port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + PATIENCE;
        while reqwest::get(format!("{url}/status")).await.is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not answer within {PATIENCE:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1360,1000", "--force-device-scale-factor=1", "--hide-scrollbars",
                         "--lang=en-US", "--no-first-run", "--disable-extensions",
                         "--disable-crash-reporter", "--disable-breakpad"],
            },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&url)
            .await
            .expect("a Chromium session");
        let shots = if std::env::var_os("GATEHOUSE_SCREENSHOTS").is_some_and(|v| v == "1") {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/console")
        } else {
            std::env::temp_dir().join(format!("gatehouse-console-{}", std::process::id()))
        };
        std::fs::create_dir_all(&shots).unwrap();
        Some(Browser {
            client,
            driver,
            port,
            shots,
        })
    }

    /// Ends the session (Chromium quits), then chromedriver.
    pub async fn close(mut self) {
        let client = self.client.clone();
        let _ = tokio::time::timeout(Duration::from_secs(10), client.close()).await;
        self.shut_down();
    }

    /// Asks chromedriver to quit (`GET /shutdown`: it ends the browsers it started), waits up to 5 s for it, and
    /// only then kills it, the one child process, by its id.
    fn shut_down(&mut self) {
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = stream.write_all(b"GET /shutdown HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
            let _ = stream.read(&mut [0u8; 256]);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if !matches!(self.driver.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }

    /// Saves a screenshot of the window as `<name>.png`.
    pub async fn shot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        eprintln!("screenshot: {}", path.display());
    }

    /// Waits until `check` answers true (polling), or fails naming `what`.
    pub async fn until<F, Fut>(&self, what: &str, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = bool>,
    {
        let deadline = Instant::now() + PATIENCE;
        while !check().await {
            assert!(Instant::now() < deadline, "after {PATIENCE:?}, still not: {what}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The first element matching `css`, waiting for it to appear.
    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    pub async fn count(&self, css: &str) -> usize {
        self.client
            .find_all(Locator::Css(css))
            .await
            .map(|all| all.len())
            .unwrap_or(0)
    }

    /// The text of the first element matching `css`, or empty when there is none (yet).
    pub async fn text(&self, css: &str) -> String {
        match self.client.find(Locator::Css(css)).await {
            Ok(element) => element.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Waits until the element `css` exists and its text contains `expected`.
    pub async fn wait_text(&self, css: &str, expected: &str) -> String {
        let mut seen = String::new();
        let deadline = Instant::now() + PATIENCE;
        loop {
            seen = match self.client.find(Locator::Css(css)).await {
                Ok(element) => element.text().await.unwrap_or(seen),
                Err(_) => seen,
            };
            if seen.contains(expected) {
                return seen;
            }
            assert!(
                Instant::now() < deadline,
                "{css} does not show {expected:?} after {PATIENCE:?}; it shows {seen:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Replaces the text of the input `css` with `text`.
    pub async fn type_into(&self, css: &str, text: &str) {
        let input = self.find(css).await;
        input.clear().await.unwrap();
        input.send_keys(text).await.unwrap();
    }

    /// Chooses `value` in the `<select>` `css`, once that option exists (menus are filled from the API).
    pub async fn choose(&self, css: &str, value: &str) {
        self.find(&format!("{css} option[value=\"{value}\"]")).await;
        self.find(css).await.select_by_value(value).await.unwrap();
    }

    /// Runs `script` in the page; its `return` value.
    pub async fn js(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if matches!(self.driver.try_wait(), Ok(None)) {
            self.shut_down();
        }
    }
}
