//! Bad configuration stops orgscan with exit 1 before any AWS call.
//!
//! Each test points `AWS_ENDPOINT_URL` at a loopback listener that counts
//! and drops connections, runs `orgscan scan` with one bad setting, and
//! checks the exit code, that the error names the key or value, and that
//! the listener saw no connection.

mod common;

use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::{describe_output, fixture_path, run_orgscan};

/// A config error is found before any network I/O, so the run takes well under this.
const MAX_CONFIG_ERROR_TIME: Duration = Duration::from_secs(20);

/// A loopback endpoint that accepts connections, counts them and closes them at once.
struct CountingEndpoint {
    url: String,
    connections: Arc<AtomicUsize>,
}

impl CountingEndpoint {
    fn start() -> CountingEndpoint {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("failed to bind a loopback listener");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&connections);
        // The thread ends with the test process; it only counts and drops.
        thread::spawn(move || {
            for stream in listener.incoming() {
                counter.fetch_add(1, Ordering::SeqCst);
                drop(stream);
            }
        });
        CountingEndpoint { url, connections }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// Runs `orgscan scan` with `args` and checks that it failed with exit 1
/// before sending anything to the endpoint. Returns its stderr.
fn scan_rejected(args: &[&str]) -> String {
    let endpoint = CountingEndpoint::start();
    let output_root = tempfile::tempdir().unwrap();
    let default_output = output_root.path().join("out");

    let mut full_args = vec!["scan", "--log-format", "json"];
    full_args.extend_from_slice(args);
    if !args.contains(&"--output") {
        full_args.extend_from_slice(&["--output", default_output.to_str().unwrap()]);
    }

    let started = Instant::now();
    let output = run_orgscan(&full_args, &[("AWS_ENDPOINT_URL", endpoint.url.as_str())]);
    let elapsed = started.elapsed();

    assert_exit_1(&output);
    assert!(elapsed < MAX_CONFIG_ERROR_TIME, "a config error took {elapsed:?}");
    assert_eq!(endpoint.connections(), 0, "orgscan connected to AWS before rejecting the config:\n{}", describe_output(&output));
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn assert_exit_1(output: &Output) {
    assert_eq!(output.status.code(), Some(1), "expected exit 1:\n{}", describe_output(output));
}

fn config_arg(name: &str) -> String {
    fixture_path(name).to_str().expect("fixture path is not UTF-8").to_string()
}

fn assert_contains(stderr: &str, expected: &str) {
    assert!(stderr.contains(expected), "stderr lacks {expected:?}:\n{stderr}");
}

#[test]
fn unknown_key_rejected() {
    let stderr = scan_rejected(&["--config", &config_arg("bad_unknown_key.toml")]);

    assert_contains(&stderr, "failed to load the configuration");
    assert_contains(&stderr, "bad_unknown_key.toml");
    assert_contains(&stderr, "unknown field");
    assert_contains(&stderr, "role_nmae");
}

#[test]
fn wrong_type_rejected() {
    let stderr = scan_rejected(&["--config", &config_arg("bad_wrong_type.toml")]);

    assert_contains(&stderr, "failed to load the configuration");
    assert_contains(&stderr, "bad_wrong_type.toml");
    assert_contains(&stderr, "concurrency");
    assert_contains(&stderr, "invalid type");
}

#[test]
fn invalid_duration_in_file_rejected() {
    let stderr = scan_rejected(&["--config", &config_arg("bad_duration.toml")]);

    assert_contains(&stderr, "failed to load the configuration");
    assert_contains(&stderr, "report_timeout");
    assert_contains(&stderr, "5 parsecs");
}

#[test]
fn invalid_duration_flag_rejected() {
    let stderr = scan_rejected(&["--report-timeout", "soon"]);

    assert_contains(&stderr, "report_timeout");
    assert_contains(&stderr, "soon");
}

#[test]
fn invalid_account_id_rejected() {
    let stderr = scan_rejected(&["--config", &config_arg("bad_account_id.toml")]);

    assert_contains(&stderr, "failed to load the configuration");
    assert_contains(&stderr, "scan.include_accounts");
    assert_contains(&stderr, "12345");
    assert_contains(&stderr, "12 digits");
}

#[test]
fn output_under_a_file_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-directory");
    let content = "a file where the output's parent directory should be";
    std::fs::write(&file, content).unwrap();
    let output = file.join("orgscan-data");

    let stderr = scan_rejected(&["--output", output.to_str().unwrap()]);

    assert_contains(&stderr, "the output is not usable");
    assert_contains(&stderr, file.to_str().unwrap());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), content, "the file in the way was changed");
}

#[test]
fn output_that_is_a_file_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("orgscan-data");
    std::fs::write(&file, "").unwrap();

    let stderr = scan_rejected(&["--output", file.to_str().unwrap()]);

    assert_contains(&stderr, "the output is not usable");
    assert_contains(&stderr, file.to_str().unwrap());
    assert!(file.is_file(), "the file in the way was replaced");
}

#[test]
fn output_under_read_only_directory_rejected() {
    use std::os::unix::fs::PermissionsExt as _;

    let dir = tempfile::tempdir().unwrap();
    let read_only = dir.path().join("read-only");
    std::fs::create_dir(&read_only).unwrap();
    std::fs::set_permissions(&read_only, std::fs::Permissions::from_mode(0o555)).unwrap();

    // root (CAP_DAC_OVERRIDE) writes through directory permissions, so the
    // case cannot fail there; CI runs as root and covers the two cases above.
    if can_create_file_in(&read_only) {
        eprintln!("skipped: this process can write into a mode 0555 directory, as root can");
        return;
    }

    let output = read_only.join("orgscan-data");
    let stderr = scan_rejected(&["--output", output.to_str().unwrap()]);

    assert_contains(&stderr, "the output is not usable");
    assert_contains(&stderr, read_only.to_str().unwrap());
}

fn can_create_file_in(dir: &Path) -> bool {
    let probe = dir.join("probe");
    let created = std::fs::write(&probe, "").is_ok();
    let _ = std::fs::remove_file(&probe);
    created
}

#[test]
fn athena_ddl_local_location_rejected() {
    let output = run_orgscan(&["athena-ddl", "--location", "/tmp/orgscan-data", "--log-format", "json"], &[]);

    assert_exit_1(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_contains(&stderr, "/tmp/orgscan-data");
    assert_contains(&stderr, "s3://bucket/prefix");
    assert!(output.stdout.is_empty(), "no DDL is printed:\n{}", describe_output(&output));
}
