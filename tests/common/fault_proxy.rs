//! A fault-injecting proxy in front of moto, and orgscan runs that a test
//! can stop at any moment.
//!
//! [`FaultProxy`] runs `tests/support/fault_proxy.py` on a free 127.0.0.1
//! port. It forwards every request to a [`Moto`] server, except that a
//! request matching one of its rules gets an AWS error, a replacement body,
//! a closed connection or added latency. The script's docstring gives the
//! rule format. The proxy
//! counts calls per operation and per account, so tests can assert how many
//! retries orgscan made.
//!
//! [`spawn_orgscan`] starts the binary with the same isolated environment as
//! [`super::run_orgscan`] but returns at once, for tests that kill it.

use std::ffi::OsStr;
use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use super::{Moto, orgscan_command, python, remove_aws_variables, support_path};

/// Time the proxy gets to start and write its port file.
const PROXY_START_TIMEOUT: Duration = Duration::from_secs(30);

/// The proxy exits by itself after this long, in case a test process dies
/// without dropping it.
const PROXY_MAX_SECONDS: u32 = 900;

/// A running fault proxy, stopped when the value is dropped.
pub struct FaultProxy {
    child: Child,
    endpoint: String,
    port: u16,
    /// Holds the rule file, the port file and the proxy's log.
    workdir: TempDir,
}

/// One set of credentials that AssumeRole returned through the proxy.
#[derive(Debug, Clone)]
pub struct AssumedCredentials {
    pub account: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
}

impl FaultProxy {
    /// Starts the proxy in front of `moto` with `rules`, a JSON list of rules.
    ///
    /// Panics with the proxy's log when it exits or does not start within 30 seconds.
    pub fn start(moto: &Moto, rules: &Value) -> FaultProxy {
        let workdir = tempfile::tempdir().expect("failed to create a temporary directory for the fault proxy");
        let rules_path = workdir.path().join("rules.json");
        let port_path = workdir.path().join("port");
        let log_path = workdir.path().join("proxy.log");
        fs::write(&rules_path, rules.to_string()).expect("failed to write the fault rules");

        let log = fs::File::create(&log_path).expect("failed to create the proxy's log file");
        let mut command = Command::new(python());
        command
            .arg(support_path("fault_proxy.py"))
            .args(["--upstream", moto.endpoint()])
            .arg("--rules")
            .arg(&rules_path)
            .arg("--port-file")
            .arg(&port_path)
            .args(["--max-seconds", &PROXY_MAX_SECONDS.to_string()])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("failed to clone the proxy's log handle"))
            .stderr(log);
        remove_aws_variables(&mut command);
        let mut child = command
            .spawn()
            .unwrap_or_else(|error| panic!("failed to run {} fault_proxy.py: {error}", python()));

        let deadline = Instant::now() + PROXY_START_TIMEOUT;
        let port = loop {
            if let Ok(text) = fs::read_to_string(&port_path) {
                break text.trim().parse::<u16>().expect("the proxy wrote an invalid port");
            }
            if let Ok(Some(status)) = child.try_wait() {
                let log = fs::read_to_string(&log_path).unwrap_or_default();
                panic!("fault_proxy.py exited with {status}:\n{log}");
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                let log = fs::read_to_string(&log_path).unwrap_or_default();
                panic!("fault_proxy.py did not start within {PROXY_START_TIMEOUT:?}:\n{log}");
            }
            thread::sleep(Duration::from_millis(50));
        };

        FaultProxy {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
            workdir,
        }
    }

    /// Base URL of the proxy, such as `http://127.0.0.1:41235`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Environment that points orgscan at the proxy.
    pub fn env(&self) -> Vec<(&str, &str)> {
        vec![("AWS_ENDPOINT_URL", self.endpoint.as_str())]
    }

    /// Everything the proxy logged so far, including every injected fault.
    pub fn log(&self) -> String {
        fs::read_to_string(self.workdir.path().join("proxy.log")).unwrap_or_default()
    }

    /// The proxy's counters, as `GET /__faults/stats` returns them: `calls`,
    /// `calls_by_account`, `injected`, `rules` and `assumed_credentials`.
    pub fn stats(&self) -> Value {
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(5))
            .unwrap_or_else(|error| panic!("failed to connect to the fault proxy: {error}\n{}", self.log()));
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("failed to set a read timeout");
        stream
            .write_all(b"GET /__faults/stats HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            .expect("failed to send the stats request");

        let mut response = Vec::new();
        stream.read_to_end(&mut response).expect("failed to read the stats response");
        let response = String::from_utf8(response).expect("the stats response is not UTF-8");
        let (head, body) = response
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("malformed stats response: {response}"));
        let status_line = head.lines().next().unwrap_or_default();
        assert!(status_line.contains(" 200 "), "stats request failed: {head}");
        serde_json::from_str(body).unwrap_or_else(|error| panic!("stats body is not JSON: {error}: {body}"))
    }

    /// Calls of `operation` (such as `AssumeRole`) the proxy received, injected faults included.
    pub fn calls(&self, operation: &str) -> u64 {
        self.stats()["calls"][operation].as_u64().unwrap_or(0)
    }

    /// Calls of `operation` that acted on `account`.
    pub fn account_calls(&self, account: &str, operation: &str) -> u64 {
        self.stats()["calls_by_account"][account][operation].as_u64().unwrap_or(0)
    }

    /// Faults the proxy injected, in order; each has `rule`, `operation`, `account` and `response`.
    pub fn injected(&self) -> Vec<Value> {
        self.stats()["injected"].as_array().cloned().unwrap_or_default()
    }

    /// Returns every set of credentials that AssumeRole returned through the proxy.
    pub fn assumed_credentials(&self) -> Vec<AssumedCredentials> {
        let stats = self.stats();
        let entries = stats["assumed_credentials"].as_array().cloned().unwrap_or_default();
        entries
            .iter()
            .map(|entry| {
                let field = |name: &str| {
                    entry[name]
                        .as_str()
                        .unwrap_or_else(|| panic!("assumed credentials without {name}: {entry}"))
                        .to_string()
                };
                AssumedCredentials {
                    account: field("account"),
                    access_key_id: field("access_key_id"),
                    secret_access_key: field("secret_access_key"),
                    session_token: field("session_token"),
                }
            })
            .collect()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An orgscan process started by [`spawn_orgscan`]; killed when dropped.
pub struct RunningOrgscan {
    child: Child,
    /// The process's HOME, AWS config files and captured stdout and stderr.
    home: TempDir,
}

impl RunningOrgscan {
    /// Returns the process id, for signals.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGKILL and waits for the process to end. Returns `false`
    /// when it had already exited before the signal.
    pub fn kill(&mut self) -> bool {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return false;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        true
    }

    /// Waits for the process to exit, at most `timeout`, and returns its output.
    /// Panics with its stderr when it is still running after `timeout`.
    pub fn wait(mut self, timeout: Duration) -> Output {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("failed to poll the orgscan process") {
                break status;
            }
            if Instant::now() >= deadline {
                self.kill();
                panic!("orgscan did not exit within {timeout:?}; stderr:\n{}", self.stderr());
            }
            thread::sleep(Duration::from_millis(20));
        };
        Output {
            status,
            stdout: fs::read(self.output_path("stdout")).unwrap_or_default(),
            stderr: fs::read(self.output_path("stderr")).unwrap_or_default(),
        }
    }

    /// Returns what the process wrote to stderr so far.
    pub fn stderr(&self) -> String {
        fs::read_to_string(self.output_path("stderr")).unwrap_or_default()
    }

    fn output_path(&self, name: &str) -> PathBuf {
        self.home.path().join(name)
    }
}

impl Drop for RunningOrgscan {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts the orgscan binary with `args` and returns without waiting.
///
/// The environment is the one [`super::run_orgscan`] builds: cleared, dummy
/// keys, empty AWS config files, an unreachable loopback endpoint, then `env`.
/// Panics if `env` sets an `AWS_ENDPOINT_URL*` variable to anything but loopback.
pub fn spawn_orgscan<S: AsRef<OsStr>>(args: &[S], env: &[(&str, &str)]) -> RunningOrgscan {
    let home = tempfile::tempdir().expect("failed to create a temporary HOME for orgscan");
    let mut command = orgscan_command(args, env, home.path());
    command
        .stdout(fs::File::create(home.path().join("stdout")).expect("failed to create the stdout file"))
        .stderr(fs::File::create(home.path().join("stderr")).expect("failed to create the stderr file"));

    let child = command.spawn().expect("failed to start the orgscan binary");
    RunningOrgscan { child, home }
}

/// Parses the JSON log lines of a run with `--log-format json` and skips other lines.
pub fn json_log_lines(stderr: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line.is_object())
        .collect()
}

/// Returns the log lines whose message is `message`.
pub fn log_lines_with_message<'a>(lines: &'a [Value], message: &str) -> Vec<&'a Value> {
    lines.iter().filter(|line| line["message"] == message).collect()
}
