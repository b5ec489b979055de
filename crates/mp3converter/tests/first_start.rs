//! The real binary's `serve` on a fresh data dir, as an operator starts it: the generated admin
//! password goes to a private file, never to stdout or the log, and what a stranger types as a
//! login name cannot forge a log line.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mp3converter::first_admin::PASSWORD_FILE;
use mp3converter_auth::DEFAULT_ADMIN_EMAIL;

/// `mp3converter serve` on a port of its own; killed on drop.
struct Served {
    child: Child,
    url: String,
    stdout: Arc<Mutex<String>>,
    stderr: PathBuf,
}

impl Served {
    /// Starts the service on `data` and waits until it listens.
    fn start(data: &Path) -> Served {
        let stderr = data.with_extension("stderr.log");
        let log = std::fs::File::create(&stderr).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mp3converter"));
        for (key, _) in std::env::vars() {
            if key.starts_with("MP3C_") {
                cmd.env_remove(key);
            }
        }
        cmd.arg("serve")
            .env("MP3C_DATA_DIR", data)
            .env("MP3C_SERVER__LISTEN", "127.0.0.1:0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log);
        let mut child = cmd.spawn().expect("start mp3converter");
        let lines = child.stdout.take().unwrap();
        let stdout = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let seen = stdout.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(lines).lines().map_while(Result::ok) {
                seen.lock().unwrap().push_str(&format!("{line}\n"));
                if let Some(url) = line.strip_prefix("mp3converter listening on ") {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(120))
            .unwrap_or_else(|_| {
                panic!(
                    "serve did not start:\n{}",
                    std::fs::read_to_string(&stderr).unwrap_or_default()
                )
            });
        Served {
            child,
            url,
            stdout,
            stderr,
        }
    }

    fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap()
    }

    async fn login(&self, email: &str, password: &str) -> reqwest::StatusCode {
        reqwest::Client::new()
            .post(format!("{}/login", self.url))
            .basic_auth(email, Some(password))
            .send()
            .await
            .unwrap()
            .status()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_start_keeps_the_admin_password_in_a_private_file_and_never_prints_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let served = Served::start(&data);
    let file = data.join(PASSWORD_FILE);
    let password = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("{}: {e}\nstdout:\n{}", file.display(), served.stdout()));
    let password = password.trim_end();
    assert_eq!(password.len(), 20, "{password:?}");
    #[cfg(unix)]
    assert_eq!(
        mode(&file),
        0o600,
        "{} is readable by others",
        file.display()
    );

    let stdout = served.stdout();
    assert!(
        !stdout.contains(password),
        "the password is on stdout:\n{stdout}"
    );
    assert!(
        !served.stderr().contains(password),
        "the password is in the log"
    );
    let said = stdout
        .lines()
        .find(|l| l.contains("first admin"))
        .unwrap_or_else(|| panic!("no word of the admin:\n{stdout}"));
    assert!(said.contains(DEFAULT_ADMIN_EMAIL), "{said}");
    assert!(said.contains(&file.display().to_string()), "{said}");
    assert!(said.contains("will not be shown again"), "{said}");
    let leftovers: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".initial-admin-password"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    assert_eq!(served.login(DEFAULT_ADMIN_EMAIL, password).await, 200);
    drop(served);

    // A restart keeps the admin and the file, and says nothing more about them.
    let again = Served::start(&data);
    assert!(
        !again.stdout().contains("first admin"),
        "{}",
        again.stdout()
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap().trim_end(), password);
    assert_eq!(again.login(DEFAULT_ADMIN_EMAIL, password).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newline_in_a_login_email_cannot_forge_a_log_line() {
    let dir = tempfile::tempdir().unwrap();
    let served = Served::start(&dir.path().join("data"));
    let forged = "FORGED-LINE INFO mp3converter_auth::service: login succeeded user=admin";
    for email in [
        format!("alice@example.com\n{forged}"),
        format!("alice@example.com\r\n{forged}"),
        format!("alice@example.com\r{forged}"),
    ] {
        let status = served.login(&email, "wrong password").await;
        assert_eq!(status, 401, "{email:?}");
    }
    let log = served.stderr();
    assert!(
        log.contains("login failed"),
        "the attempts were not logged:\n{log}"
    );
    for line in log.split(['\n', '\r']) {
        assert!(
            !line.to_ascii_uppercase().starts_with("FORGED-LINE"),
            "a forged log line:\n{log}"
        );
    }
    assert!(
        log.contains(r"alice@example.com\nFORGED-LINE"),
        "the name is logged escaped:\n{log}"
    );
}
