//! The test harness: starts the real `hemolink` binary on an ephemeral port with
//! a temporary data directory, and speaks HTTP/1.1 to it over a plain socket (a
//! client of our own, independent of the server's HTTP stack).

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running server; killed when dropped.
pub struct Server {
    pub child: Child,
    pub addr: String,
    pub base: String,
    /// The MLLP listener's address, when one was asked for.
    pub mllp: Option<String>,
    _dir: Option<tempfile::TempDir>,
    /// What the server printed at start.
    pub stdout: Vec<String>,
}

/// Starts a server with a fresh data directory and extra arguments.
pub fn start(extra: &[&str]) -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let mut s = start_in(&data, extra);
    s._dir = Some(dir);
    s
}

/// Starts a server on an existing data directory.
pub fn start_in(data_dir: &Path, extra: &[&str]) -> Server {
    start_with(data_dir, extra, Stdio::null())
}

/// Starts a server on an existing data directory whose log (its standard
/// error) is written to the file `log`.
pub fn start_logged(data_dir: &Path, extra: &[&str], log: &Path) -> Server {
    let file = std::fs::File::create(log).expect("the log file");
    start_with(data_dir, extra, Stdio::from(file))
}

fn start_with(data_dir: &Path, extra: &[&str], stderr: Stdio) -> Server {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hemolink"));
    cmd.arg("serve")
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--data-dir")
        .arg(data_dir)
        .args(extra)
        .env_remove("HEMOLINK_CONFIG")
        .stdout(Stdio::piped())
        .stderr(stderr);
    let mut child = cmd.spawn().expect("start hemolink");
    let out = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(out).lines();
    let mut stdout = Vec::new();
    let mut addr = None;
    let mut base = None;
    let mut mllp = None;
    for line in lines.by_ref() {
        let line = line.expect("read stdout");
        if let Some(rest) = line.strip_prefix("MLLP listening on ") {
            mllp = Some(rest.split("://").nth(1).unwrap_or(rest).to_string());
            stdout.push(line);
            continue;
        }
        if let Some(rest) = line.split("listening on ").nth(1) {
            addr = Some(rest.split("://").nth(1).unwrap_or(rest).to_string());
        }
        if let Some(b) = line.strip_prefix("FHIR R4 base ") {
            base = Some(b.to_string());
        }
        let done = line.starts_with("data in ");
        stdout.push(line);
        if done {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    Server {
        child,
        addr: addr.expect("the server printed where it listens"),
        base: base.expect("the server printed its base URL"),
        mllp,
        _dir: None,
        stdout,
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A response as the test sees it.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The OperationOutcome's first issue code, asserting the body is one.
    pub fn issue_code(&self) -> String {
        let oo = self.json();
        assert_eq!(oo["resourceType"], "OperationOutcome", "{oo}");
        oo["issue"][0]["code"].as_str().unwrap_or("").to_string()
    }
}

impl Server {
    /// Sends one request (own connection) and reads the whole response.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        send(&self.addr, method, path, headers, body).expect("request")
    }

    pub fn get(&self, path: &str) -> Response {
        self.request("GET", path, &[], b"")
    }

    pub fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        self.request("GET", path, headers, b"")
    }

    pub fn post_json(&self, path: &str, body: &Value) -> Response {
        self.request(
            "POST",
            path,
            &[("Content-Type", "application/fhir+json")],
            body.to_string().as_bytes(),
        )
    }

    pub fn put_json(&self, path: &str, body: &Value) -> Response {
        self.request(
            "PUT",
            path,
            &[("Content-Type", "application/fhir+json")],
            body.to_string().as_bytes(),
        )
    }

    pub fn delete(&self, path: &str) -> Response {
        self.request("DELETE", path, &[], b"")
    }

    /// Creates a resource and returns its id.
    pub fn create(&self, resource: &Value) -> String {
        let t = resource["resourceType"].as_str().unwrap();
        let r = self.post_json(&format!("/{t}"), resource);
        assert_eq!(r.status, 201, "{}", r.text());
        r.json()["id"].as_str().unwrap().to_string()
    }

    /// A counter of `/metrics`.
    pub fn metric(&self, name: &str) -> u64 {
        self.counter(name)
    }

    /// A `/metrics` counter that counts seconds.
    pub fn seconds(&self, name: &str) -> f64 {
        self.counter(name)
    }

    fn counter<T: std::str::FromStr>(&self, name: &str) -> T {
        let text = self.get("/metrics").text();
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no metric {name} in {text}"))
    }
}

/// One HTTP/1.1 request on a new connection.
pub fn send(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" || method == "PUT" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    // A server may answer (413) and close before the whole body is sent; the
    // answer is still there to read.
    if let Err(e) = stream.write_all(body)
        && !matches!(
            e.kind(),
            std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
        )
    {
        return Err(e);
    }
    read_response(&mut stream, method == "HEAD")
}

/// Reads a response whose body ends with the connection or its Content-Length.
pub fn read_response(stream: &mut impl Read, head_only: bool) -> std::io::Result<Response> {
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line)?;
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {status_line:?}")))?;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let length = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok());
    let mut body = Vec::new();
    if !head_only && status != 304 && status != 204 {
        match length {
            Some(n) => {
                body.resize(n, 0);
                reader.read_exact(&mut body)?;
            }
            None => {
                reader.read_to_end(&mut body)?;
            }
        }
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}
