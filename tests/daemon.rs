//! End-to-end tests of `orgscan daemon`: the real binary as a child process
//! against moto on 127.0.0.1, probed over HTTP and stopped with SIGTERM.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tempfile::TempDir;

use common::{Moto, Seed, describe_output, orgscan_command, run_orgscan, seed};

const ROLE_NAME: &str = "OrgScanRole";

/// Time a scan of the small seeded organization may take against moto. One
/// scan of it measured about a second, so this leaves room for a loaded CI host.
const FIRST_SCAN_TIMEOUT: Duration = Duration::from_secs(120);

/// Time the daemon may take to serve HTTP after it starts.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// Time the daemon may take to exit after SIGTERM when no scan runs.
const IDLE_EXIT_TIMEOUT: Duration = Duration::from_secs(5);

/// The prefix of every endpoint these tests hand to orgscan: plain HTTP on 127.0.0.1.
const LOOPBACK_URL_PREFIX: &str = "http://127.0.0.1:";

/// An `orgscan daemon` child process, killed when dropped.
struct Daemon {
    child: Child,
    address: SocketAddr,
    /// Holds HOME, the empty AWS config files, stdout and stderr.
    home: TempDir,
}

impl Daemon {
    /// Starts `orgscan daemon` with `args`, a free loopback `--listen`
    /// address and JSON logs, in an environment like `run_orgscan`'s: dummy
    /// keys, empty AWS config files and only loopback endpoints from `env`.
    fn start(args: &[&str], env: &[(&str, &str)]) -> Daemon {
        for (name, value) in env {
            if name.starts_with("AWS_ENDPOINT_URL") {
                assert!(value.starts_with(LOOPBACK_URL_PREFIX), "tests may only point orgscan at 127.0.0.1, not {value}");
            }
        }

        let home = tempfile::tempdir().expect("failed to create a temporary HOME");
        let address = free_loopback_address();
        let listen = address.to_string();
        let mut all_args = vec!["daemon"];
        all_args.extend_from_slice(args);
        all_args.extend_from_slice(&["--listen", &listen, "--log-format", "json"]);

        let mut command = orgscan_command(&all_args, env, home.path());
        command
            .stdout(fs::File::create(home.path().join("stdout")).unwrap())
            .stderr(fs::File::create(home.path().join("stderr")).unwrap());
        let child = command.spawn().expect("failed to start the orgscan binary");
        Daemon { child, address, home }
    }

    /// Sends `GET path` and returns the response, or `None` when the request fails.
    fn get(&self, path: &str) -> Option<Response> {
        http_get(self.address, path)
    }

    /// Polls `path` until it returns `status`, and panics with the logs after `timeout`.
    fn wait_for_status(&mut self, path: &str, status: u16, timeout: Duration) -> Response {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(response) = self.get(path)
                && response.status == status
            {
                return response;
            }
            if let Some(exit) = self.child.try_wait().unwrap() {
                panic!("the daemon exited with {exit} while waiting for {path}; stderr:\n{}", self.stderr());
            }
            assert!(Instant::now() < deadline, "{path} did not return {status} within {timeout:?}; stderr:\n{}", self.stderr());
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sends SIGTERM and waits for the exit, and panics with the logs after `timeout`.
    /// Returns the exit status and the time the exit took.
    fn terminate(&mut self, timeout: Duration) -> (ExitStatus, Duration) {
        let sent_at = Instant::now();
        let kill = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("failed to run kill");
        assert!(kill.success(), "kill -TERM failed: {kill}");

        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, sent_at.elapsed());
            }
            assert!(
                sent_at.elapsed() < timeout,
                "the daemon did not exit within {timeout:?} of SIGTERM; stderr:\n{}",
                self.stderr()
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    fn stderr(&self) -> String {
        fs::read_to_string(self.home.path().join("stderr")).unwrap_or_default()
    }

    /// Parses the JSON log lines on stderr and panics on a line that is not JSON.
    fn log_lines(&self) -> Vec<Value> {
        self.stderr()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|err| panic!("log line is not JSON ({err}): {line}")))
            .collect()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
struct Response {
    status: u16,
    /// Response headers, names in lower case.
    headers: Vec<(String, String)>,
    body: String,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }
}

/// Sends a plain HTTP/1.1 `GET` with `Connection: close`, enough for the daemon's
/// small responses.
fn http_get(address: SocketAddr, path: &str) -> Option<Response> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw).ok()?;

    let (head, body) = raw.split_once("\r\n\r\n")?;
    let mut lines = head.lines();
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    Some(Response {
        status,
        headers,
        body: body.to_owned(),
    })
}

fn free_loopback_address() -> SocketAddr {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("failed to bind a probe socket");
    listener.local_addr().unwrap()
}

/// Returns the value of one sample in a metrics exposition, such as
/// `orgscan_accounts_total{outcome="scanned"}`.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        Some(value.parse().expect("metric value is not a number"))
    })
}

/// Returns the seed spec of a small organization: the management account, two members with users,
/// one member without users and one closed member.
fn small_org() -> Value {
    json!({
        "management_users": [{"name": "admin", "password": true, "mfa": true}],
        "accounts": [
            {"name": "prod", "users": [
                {"name": "alice", "password": true, "mfa": false},
                {"name": "bob", "password": true, "mfa": true},
                {"name": "deploy", "path": "/service/", "password": false, "mfa": false},
            ]},
            {"name": "dev", "users": [{"name": "carol", "password": true, "mfa": false}]},
            {"name": "empty", "users": []},
            {"name": "old", "closed": true, "users": []},
        ],
    })
}

/// Seeded accounts with the given Organizations status.
fn accounts_with_status<'a>(seeded: &'a Value, status: &str) -> Vec<&'a Value> {
    seeded["accounts"]
        .as_array()
        .expect("seed output has no accounts array")
        .iter()
        .filter(|account| account["status"] == status)
        .collect()
}

/// Findings the scan of the active accounts should write, by status.
fn expected_findings(active: &[&Value], status: &str) -> usize {
    active
        .iter()
        .flat_map(|account| account["users"].as_array().unwrap())
        .filter(|user| user["expected_status"] == status)
        .count()
}

/// Files under `root`, as paths relative to it.
fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = fs::read_dir(&dir) else { continue };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    files.sort();
    files
}

#[test]
fn daemon_scans_serves_probes_and_stops_on_sigterm() {
    let moto = Moto::start();
    let seeded = seed(&moto, Seed::Spec(&small_org()));
    let output = tempfile::tempdir().unwrap();
    let output_arg = output.path().to_str().unwrap();

    let args = ["--interval", "1h", "--output", output_arg, "--role-name", ROLE_NAME];
    let mut daemon = Daemon::start(&args, &moto.env());

    let health = daemon.wait_for_status("/healthz", 200, STARTUP_TIMEOUT);
    assert_eq!(health.body, "ok");
    daemon.wait_for_status("/readyz", 200, FIRST_SCAN_TIMEOUT);

    let metrics = daemon.get("/metrics").expect("/metrics did not answer");
    assert_eq!(metrics.status, 200);
    assert_eq!(
        metrics.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    let text = &metrics.body;
    let active = accounts_with_status(&seeded, "ACTIVE");
    let closed = accounts_with_status(&seeded, "SUSPENDED");
    assert_eq!(active.len(), 4, "seed: {seeded}");
    assert_eq!(closed.len(), 1, "seed: {seeded}");

    assert_eq!(sample(text, "orgscan_scans_started_total"), Some(1.0), "{text}");
    assert_eq!(sample(text, r#"orgscan_scans_finished_total{result="success"}"#), Some(1.0), "{text}");
    assert_eq!(sample(text, r#"orgscan_accounts_total{outcome="scanned"}"#), Some(active.len() as f64), "{text}");
    assert_eq!(sample(text, r#"orgscan_accounts_total{outcome="skipped"}"#), Some(closed.len() as f64), "{text}");
    assert_eq!(sample(text, r#"orgscan_accounts_total{outcome="failed"}"#), None, "{text}");
    assert_eq!(sample(text, r#"orgscan_findings_total{status="alarm"}"#), Some(expected_findings(&active, "alarm") as f64), "{text}");
    assert_eq!(sample(text, r#"orgscan_findings_total{status="ok"}"#), Some(expected_findings(&active, "ok") as f64), "{text}");
    assert_eq!(sample(text, "orgscan_scan_running"), Some(0.0), "{text}");
    assert_eq!(sample(text, "orgscan_skipped_ticks_total"), Some(0.0), "{text}");
    assert!(sample(text, "orgscan_next_scan_timestamp_seconds").is_some_and(|at| at > 0.0), "{text}");
    assert!(text.ends_with("# EOF\n"), "{text}");

    let files = files_under(output.path());
    for table in ["findings", "credential_report", "accounts"] {
        let in_table: Vec<&PathBuf> = files.iter().filter(|file| file.starts_with(table)).collect();
        assert_eq!(in_table.len(), 1, "{table}: expected one file, found {files:?}");
        assert_eq!(in_table[0].extension().and_then(|ext| ext.to_str()), Some("parquet"), "{files:?}");
    }

    let (status, took) = daemon.terminate(IDLE_EXIT_TIMEOUT);
    assert_eq!(status.code(), Some(0), "stderr:\n{}", daemon.stderr());
    eprintln!("idle daemon exited {took:?} after SIGTERM");

    let messages: Vec<String> = daemon
        .log_lines()
        .iter()
        .map(|line| line["message"].as_str().unwrap_or_default().to_owned())
        .collect();
    for expected in ["daemon started", "scan finished", "next scan scheduled", "daemon stopped"] {
        assert!(messages.iter().any(|message| message == expected), "no {expected:?} log line in {messages:?}");
    }
}

#[test]
fn daemon_failed_scan_keeps_running() {
    let moto = Moto::start();
    let workdir = tempfile::tempdir().unwrap();
    // A regular file where the output directory should be: the scan cannot write.
    let blocker = workdir.path().join("not-a-directory");
    fs::write(&blocker, "").unwrap();
    let output = blocker.join("out");

    let args = ["--interval", "1h", "--output", output.to_str().unwrap(), "--role-name", ROLE_NAME];
    let mut daemon = Daemon::start(&args, &moto.env());

    daemon.wait_for_status("/readyz", 200, FIRST_SCAN_TIMEOUT);
    let health = daemon.get("/healthz").expect("/healthz did not answer");
    assert_eq!(health.status, 200);
    let metrics = daemon.get("/metrics").expect("/metrics did not answer").body;
    assert_eq!(sample(&metrics, r#"orgscan_scans_finished_total{result="failed"}"#), Some(1.0), "{metrics}");
    assert_eq!(sample(&metrics, r#"orgscan_scans_finished_total{result="success"}"#), None, "{metrics}");

    let (status, _) = daemon.terminate(IDLE_EXIT_TIMEOUT);
    assert_eq!(status.code(), Some(0), "stderr:\n{}", daemon.stderr());

    let logs = daemon.log_lines();
    let failure = logs
        .iter()
        .find(|line| line["message"] == "scan failed, retrying at the next scheduled time")
        .unwrap_or_else(|| panic!("no scan failure logged: {logs:?}"));
    assert_eq!(failure["level"], "ERROR", "{failure}");
    let error = failure["error"].as_str().unwrap_or_default();
    assert!(error.contains("not-a-directory"), "the error does not name the path: {failure}");
}

/// A loopback endpoint that accepts connections and never responds, so a
/// call to it hangs until the client gives up.
struct SilentEndpoint {
    url: String,
    connections: Arc<AtomicUsize>,
}

impl SilentEndpoint {
    fn start() -> SilentEndpoint {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("failed to bind a loopback listener");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&connections);
        // The thread ends with the test process; it keeps every connection open.
        thread::spawn(move || {
            let mut open = Vec::new();
            for stream in listener.incoming() {
                counter.fetch_add(1, Ordering::SeqCst);
                open.push(stream);
            }
        });
        SilentEndpoint { url, connections }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

#[test]
fn daemon_abandons_hung_scan_after_grace() {
    let moto = Moto::start();
    seed(&moto, Seed::Spec(&small_org()));
    let iam = SilentEndpoint::start();
    let output = tempfile::tempdir().unwrap();

    // moto serves Organizations and STS, and every IAM call hangs, so the
    // scan stops with its temporary files open.
    let mut env = moto.env();
    env.push(("AWS_ENDPOINT_URL_IAM", iam.url.as_str()));
    let grace = Duration::from_secs(2);
    let args = [
        "--interval",
        "1h",
        "--grace-period",
        "2s",
        "--output",
        output.path().to_str().unwrap(),
        "--role-name",
        ROLE_NAME,
    ];
    let mut daemon = Daemon::start(&args, &env);

    let deadline = Instant::now() + FIRST_SCAN_TIMEOUT;
    while iam.connections() == 0 {
        assert!(Instant::now() < deadline, "the scan never called IAM; stderr:\n{}", daemon.stderr());
        thread::sleep(Duration::from_millis(50));
    }
    let ready = daemon.get("/readyz").expect("/readyz did not answer");
    assert_eq!(ready.status, 503, "ready before the first scan finished: {ready:?}");
    let metrics = daemon.get("/metrics").expect("/metrics did not answer").body;
    assert_eq!(sample(&metrics, "orgscan_scan_running"), Some(1.0), "{metrics}");
    let temporary = files_under(output.path());
    assert_eq!(temporary.len(), 3, "expected the scan's three temporary files: {temporary:?}");

    let (status, took) = daemon.terminate(grace + Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "stderr:\n{}", daemon.stderr());
    assert!(took >= grace, "the daemon exited after {took:?}, before the {grace:?} grace period");
    eprintln!("hung scan abandoned; the daemon exited {took:?} after SIGTERM");

    let left = files_under(output.path());
    assert!(left.is_empty(), "the abandoned scan left files: {left:?}");
    let abandoned = daemon
        .log_lines()
        .into_iter()
        .find(|line| line["message"] == "the running scan was abandoned at shutdown, and its temporary files are removed");
    assert!(abandoned.is_some_and(|line| line["level"] == "WARN"), "stderr:\n{}", daemon.stderr());
}

#[test]
fn daemon_bad_config_exits_before_aws() {
    let workdir = tempfile::tempdir().unwrap();
    let config = workdir.path().join("orgscan.toml");
    fs::write(&config, "[scan]\nrole_nmae = \"typo\"\n").unwrap();
    let endpoint = SilentEndpoint::start();

    let args = ["daemon", "--interval", "1h", "--config", config.to_str().unwrap()];
    let output = run_orgscan(&args, &[("AWS_ENDPOINT_URL", endpoint.url.as_str())]);
    assert_eq!(output.status.code(), Some(1), "{}", describe_output(&output));
    assert_eq!(endpoint.connections(), 0, "the daemon called AWS with a bad config");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("role_nmae"), "the error does not name the key: {stderr}");
    assert!(!stderr.contains("daemon started"), "the daemon started with a bad config: {stderr}");
}

#[test]
fn daemon_needs_one_schedule() {
    let cases: [(&[&str], &str); 3] = [
        (&["daemon"], "--interval"),
        (&["daemon", "--interval", "1h", "--schedule", "0 * * * *"], "cannot be used with"),
        (&["daemon", "--schedule", "0 0 * * 9"], "day 9 is out of range"),
    ];
    for (args, expected) in cases {
        let output = run_orgscan(args, &[]);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {}", describe_output(&output));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}
