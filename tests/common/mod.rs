//! Helpers shared by the integration tests.
//!
//! - [`Moto`] runs the moto AWS emulator on a free 127.0.0.1 port and stops it
//!   on drop. It records every request it serves, so tests can count API calls.
//! - [`seed`] fills moto with an organization through `tests/support/seed_org.py`
//!   and returns that script's JSON description of what it created.
//! - [`run_orgscan`] runs the orgscan binary with a cleared environment: dummy
//!   keys, a loopback endpoint and empty AWS config files, so no test can pick
//!   up a real profile or reach real AWS.
//! - [`read_tables`] reads an output directory through
//!   `tests/support/read_tables.py`, which checks that pyarrow and DuckDB agree.
//!
//! The Python side needs `pip install -r tests/support/requirements.txt`.

// Each test binary compiles its own copy of this module and uses only part of it.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::Value;
use tempfile::TempDir;

pub mod fault_proxy;

/// Region every test client uses. IAM is global, so the value only has to be valid.
pub const REGION: &str = "us-east-1";

/// Account that moto 5.2.1 gives the default credentials. It becomes the
/// management account once the organization exists.
pub const MANAGEMENT_ACCOUNT_ID: &str = "123456789012";

/// Endpoint that orgscan gets when a test passes none. Nothing listens on the
/// discard port on loopback, so a call there fails at once instead of leaving
/// the machine.
const UNREACHABLE_ENDPOINT: &str = "http://127.0.0.1:9";

/// Time moto gets to import and bind; its first start on a cold disk takes a few seconds.
const MOTO_START_TIMEOUT: Duration = Duration::from_secs(60);

/// Upper bound on one orgscan run, so a hung scan fails the test instead of CI.
const ORGSCAN_TIMEOUT: Duration = Duration::from_secs(300);

const INSTALL_HINT: &str = "install the test dependencies with \
    `pip install -r tests/support/requirements.txt` or run scripts/test.sh";

/// Path of a file under `tests/support`.
pub fn support_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support").join(name)
}

/// Path of a file under `tests/fixtures`.
pub fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// Python interpreter for moto and the support scripts: `$PYTHON`, else `python3`.
pub fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string())
}

/// A moto server on 127.0.0.1, stopped when the value is dropped.
pub struct Moto {
    child: Child,
    endpoint: String,
    /// Holds moto's log and its request recording.
    workdir: TempDir,
}

/// One request that moto served, as its recorder wrote it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// API operation, such as `ListAccounts` or `GenerateCredentialReport`.
    pub action: String,
    /// Request body, decoded as UTF-8 (JSON for Organizations, a form for IAM and STS).
    pub body: String,
}

impl Moto {
    /// Starts moto on a free loopback port and waits until it serves HTTP.
    ///
    /// Panics with moto's log when it exits or does not respond within a minute.
    pub fn start() -> Moto {
        let workdir = tempfile::tempdir().expect("failed to create a temporary directory for moto");
        match spawn_moto(workdir.path()) {
            Ok((child, port)) => Moto {
                child,
                endpoint: format!("http://127.0.0.1:{port}"),
                workdir,
            },
            Err(log) => panic!("moto did not start on 127.0.0.1 ({INSTALL_HINT}); its log:\n{log}"),
        }
    }

    /// Base URL of the server, such as `http://127.0.0.1:41234`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Environment that points orgscan at this server.
    pub fn env(&self) -> Vec<(&str, &str)> {
        vec![("AWS_ENDPOINT_URL", self.endpoint.as_str())]
    }

    /// Everything moto wrote to stdout and stderr so far, for failure messages.
    pub fn log(&self) -> String {
        fs::read_to_string(self.workdir.path().join("moto.log")).unwrap_or_default()
    }

    /// Requests served since the start or since [`Moto::clear_recorded_requests`].
    pub fn recorded_requests(&self) -> Vec<RecordedRequest> {
        let recording = fs::read_to_string(self.recording_path()).unwrap_or_default();
        recording
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| {
                let entry: Value = serde_json::from_str(line)
                    .unwrap_or_else(|error| panic!("invalid line in moto's recording: {error}: {line}"));
                parse_recorded_request(&entry)
            })
            .collect()
    }

    /// Requests for one API operation, such as `ListAccounts`.
    pub fn requests_for(&self, action: &str) -> Vec<RecordedRequest> {
        self.recorded_requests()
            .into_iter()
            .filter(|request| request.action == action)
            .collect()
    }

    /// Forgets the requests recorded so far, for example the seed's own calls.
    pub fn clear_recorded_requests(&self) {
        fs::write(self.recording_path(), "").expect("failed to truncate moto's recording");
    }

    fn recording_path(&self) -> PathBuf {
        self.workdir.path().join("recording.jsonl")
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `tests/support/moto_server.py`, which binds a port the kernel picks
/// and writes it to a file, then waits until moto serves HTTP on it.
fn spawn_moto(workdir: &Path) -> Result<(Child, u16), String> {
    let log_path = workdir.join("moto.log");
    let port_path = workdir.join("port");
    let log = fs::File::create(&log_path).expect("failed to create moto's log file");
    let log_for_stderr = log.try_clone().expect("failed to clone moto's log handle");

    let mut command = Command::new(python());
    command
        .arg(support_path("moto_server.py"))
        .arg(&port_path)
        .env("MOTO_ENABLE_RECORDING", "true")
        .env("MOTO_RECORDER_FILEPATH", workdir.join("recording.jsonl"))
        .current_dir(workdir)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_for_stderr);
    remove_aws_variables(&mut command);
    let mut child = command
        .spawn()
        .unwrap_or_else(|error| panic!("failed to run {}: {error} ({INSTALL_HINT})", python()));

    let deadline = Instant::now() + MOTO_START_TIMEOUT;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            let log = fs::read_to_string(&log_path).unwrap_or_default();
            return Err(format!("moto exited with {status}\n{log}"));
        }
        let port = fs::read_to_string(&port_path).ok().and_then(|text| text.trim().parse::<u16>().ok());
        if let Some(port) = port {
            if answers_http(port) {
                return Ok((child, port));
            }
        }
        thread::sleep(Duration::from_millis(100));
    }

    let _ = child.kill();
    let _ = child.wait();
    let log = fs::read_to_string(&log_path).unwrap_or_default();
    Err(format!("moto did not respond within {MOTO_START_TIMEOUT:?}\n{log}"))
}

/// Returns whether an HTTP server on the loopback `port` responds to a request.
fn answers_http(port: u16) -> bool {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_millis(500)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));

    let request = "GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut status_line = [0u8; 5];
    stream.read_exact(&mut status_line).is_ok() && &status_line == b"HTTP/"
}

/// Reads the operation and body from one entry of moto's recorder.
///
/// JSON protocols (Organizations) name the operation in `X-Amz-Target`; query
/// protocols (IAM, STS) send it as the `Action` form field.
fn parse_recorded_request(entry: &Value) -> RecordedRequest {
    let raw_body = entry["body"].as_str().unwrap_or_default();
    let body = if entry["body_encoded"].as_bool().unwrap_or(false) {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(raw_body)
            .expect("moto recorded a body that is not valid base64");
        String::from_utf8_lossy(&bytes).into_owned()
    } else {
        raw_body.to_string()
    };

    let target = entry["headers"]
        .as_object()
        .and_then(|headers| headers.iter().find(|(name, _)| name.eq_ignore_ascii_case("x-amz-target")))
        .and_then(|(_, value)| value.as_str());
    let action = match target {
        Some(target) => target.rsplit('.').next().unwrap_or(target).to_string(),
        None => form_field(&body, "Action").unwrap_or_default(),
    };

    RecordedRequest { action, body }
}

fn form_field(body: &str, name: &str) -> Option<String> {
    url::form_urlencoded::parse(body.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// Where [`seed`] takes the organization from.
pub enum Seed<'a> {
    /// A preset of `seed_org.py`: `demo` or `integration`.
    Preset(&'a str),
    /// This many member accounts with one user each, for ListAccounts paging.
    Accounts(usize),
    /// A spec in the format that `seed_org.py` documents.
    Spec(&'a Value),
}

/// Creates an organization in `moto` and returns `seed_org.py`'s description of it.
///
/// The description has `management_account_id` and `accounts`, each account
/// with `id`, `name`, `status` and `users`, each user with `user_name`,
/// `path`, `arn`, `password`, `mfa` and `expected_status`.
pub fn seed(moto: &Moto, source: Seed<'_>) -> Value {
    let workdir = tempfile::tempdir().expect("failed to create a temporary directory for the seed");
    let mut command = python_script("seed_org.py", workdir.path());
    command.args(["--endpoint", moto.endpoint()]);

    match source {
        Seed::Preset(name) => {
            command.args(["--preset", name]);
        }
        Seed::Accounts(count) => {
            command.args(["--accounts", &count.to_string()]);
        }
        Seed::Spec(spec) => {
            let spec_path = workdir.path().join("spec.json");
            fs::write(&spec_path, spec.to_string()).expect("failed to write the seed spec");
            command.arg("--spec").arg(&spec_path);
        }
    }

    let output = command.output().expect("failed to run seed_org.py");
    assert!(
        output.status.success(),
        "seed_org.py failed ({INSTALL_HINT}):\n{}\nmoto's log:\n{}",
        describe_output(&output),
        moto.log()
    );
    serde_json::from_slice(&output.stdout).expect("seed_org.py printed invalid JSON")
}

/// Reads the three tables under `dir` with pyarrow and DuckDB and returns them.
///
/// The result maps each table name to `files` (paths relative to `dir`),
/// `schema`, `row_counts` and `rows`, with timestamps as ISO 8601 strings.
/// Panics when the readers disagree. With `ORGSCAN_TEST_SPARK=1` in the
/// environment Spark reads the tables too (needs `pip install pyspark`).
pub fn read_tables(dir: &Path) -> Value {
    let with_spark = std::env::var("ORGSCAN_TEST_SPARK").as_deref() == Ok("1");
    read_tables_with(dir, with_spark)
}

/// Reads the three tables like [`read_tables`], and with Spark (parquet-java) too when `with_spark` is set.
pub fn read_tables_with(dir: &Path, with_spark: bool) -> Value {
    let workdir = tempfile::tempdir().expect("failed to create a temporary directory for the reader");
    let mut command = python_script("read_tables.py", workdir.path());
    command.arg(dir);
    if with_spark {
        command.arg("--with-spark");
    }

    let output = command.output().expect("failed to run read_tables.py");
    assert!(
        output.status.success(),
        "read_tables.py failed on {}:\n{}",
        dir.display(),
        describe_output(&output)
    );
    serde_json::from_slice(&output.stdout).expect("read_tables.py printed invalid JSON")
}

/// Builds a command for a script under `tests/support` that inherits no AWS settings.
fn python_script(script: &str, workdir: &Path) -> Command {
    let mut command = Command::new(python());
    command.arg(support_path(script)).stdin(Stdio::null());
    remove_aws_variables(&mut command);
    point_aws_config_at_empty_files(&mut command, workdir);
    command
}

fn remove_aws_variables(command: &mut Command) {
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AWS_") {
            command.env_remove(name);
        }
    }
}

fn point_aws_config_at_empty_files(command: &mut Command, dir: &Path) {
    let config = dir.join("aws-config");
    let credentials = dir.join("aws-credentials");
    fs::write(&config, "").expect("failed to write an empty AWS config file");
    fs::write(&credentials, "").expect("failed to write an empty AWS credentials file");
    command.env("AWS_CONFIG_FILE", config).env("AWS_SHARED_CREDENTIALS_FILE", credentials);
}

/// Runs the orgscan binary with `args` and waits at most five minutes.
///
/// The child's environment starts empty, apart from PATH and the Rust logging
/// and backtrace variables. It gets dummy keys, `AWS_REGION`, a HOME and AWS
/// config files that are empty temporary files, and an endpoint on loopback
/// where nothing listens. `env` is applied last, so `&moto.env()` points the
/// run at a moto server. Panics if `env` sets an `AWS_ENDPOINT_URL*` variable
/// to anything but a loopback address.
pub fn run_orgscan<S: AsRef<OsStr>>(args: &[S], env: &[(&str, &str)]) -> Output {
    let home = tempfile::tempdir().expect("failed to create a temporary HOME for orgscan");
    let command = orgscan_command(args, env, home.path());
    run_with_timeout(command, home.path(), ORGSCAN_TIMEOUT)
}

/// Builds the command that [`run_orgscan`] runs, with `home` as its HOME and
/// the folder of its empty AWS config files.
pub fn orgscan_command<S: AsRef<OsStr>>(args: &[S], env: &[(&str, &str)], home: &Path) -> Command {
    for (name, value) in env {
        if name.starts_with("AWS_ENDPOINT_URL") {
            assert_loopback_url(value);
        }
    }

    let mut command = Command::new(env!("CARGO_BIN_EXE_orgscan"));
    command.args(args).env_clear().stdin(Stdio::null());
    for name in ["PATH", "TMPDIR", "RUST_LOG", "RUST_BACKTRACE"] {
        if let Some(value) = std::env::var_os(name) {
            command.env(name, value);
        }
    }
    command
        .env("HOME", home)
        .env("AWS_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", UNREACHABLE_ENDPOINT);
    point_aws_config_at_empty_files(&mut command, home);
    for (name, value) in env {
        command.env(name, value);
    }
    command
}

fn assert_loopback_url(value: &str) {
    let url = url::Url::parse(value).unwrap_or_else(|error| panic!("invalid endpoint {value:?}: {error}"));
    let is_loopback = match url.host() {
        Some(url::Host::Ipv4(address)) => address.is_loopback(),
        Some(url::Host::Ipv6(address)) => address.is_loopback(),
        Some(url::Host::Domain(name)) => name == "localhost",
        None => false,
    };
    assert!(is_loopback, "tests may only point orgscan at loopback, not {value}");
}

/// Runs `command` with stdout and stderr in files, killing it after `timeout`.
///
/// Files instead of pipes keep a chatty child from blocking on a full pipe
/// while this thread polls for its exit.
fn run_with_timeout(mut command: Command, dir: &Path, timeout: Duration) -> Output {
    let stdout_path = dir.join("stdout");
    let stderr_path = dir.join("stderr");
    command
        .stdout(fs::File::create(&stdout_path).expect("failed to create the stdout file"))
        .stderr(fs::File::create(&stderr_path).expect("failed to create the stderr file"));

    let mut child = command.spawn().expect("failed to start the orgscan binary");
    let deadline = Instant::now() + timeout;
    let status: ExitStatus = loop {
        if let Some(status) = child.try_wait().expect("failed to poll the orgscan process") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = fs::read_to_string(&stderr_path).unwrap_or_default();
            panic!("orgscan did not exit within {timeout:?}; stderr:\n{stderr}");
        }
        thread::sleep(Duration::from_millis(20));
    };

    Output {
        status,
        stdout: fs::read(&stdout_path).unwrap_or_default(),
        stderr: fs::read(&stderr_path).unwrap_or_default(),
    }
}

/// Formats a finished process for an assertion message.
pub fn describe_output(output: &Output) -> String {
    format!(
        "{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Rows of one table from [`read_tables`].
pub fn rows<'a>(tables: &'a Value, table: &str) -> &'a [Value] {
    tables[table]["rows"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_else(|| panic!("read_tables returned no rows array for {table}"))
}

/// Today's date in UTC as `YYYY-MM-DD`, the form of the `dt=` partition.
pub fn utc_date_today() -> String {
    chrono::Utc::now().format("%Y-%m-%d").to_string()
}

/// Lists every file under `dir`, at any depth. A folder that disappears
/// while it is read, as a scan's temporary folders may, is passed over.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries {
            let Ok(entry) = entry else { continue };
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}
