//! End to end: `hemolink generate` writes into a data directory, and a server
//! started on that directory afterwards serves what was generated.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A server process, killed when dropped.
struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(data_dir: &Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hemolink"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env_remove("HEMOLINK_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start hemolink serve");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let addr = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| Some(l.split("listening on http://").nth(1)?.to_string()))
        .expect("the server printed where it listens");
    std::thread::spawn(move || for _ in lines {});
    Server { child, addr }
}

/// `GET path` on its own connection: the status and the body.
fn get(addr: &str, path: &str) -> (u16, serde_json::Value) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/fhir+json\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read");
    let text = String::from_utf8(raw).expect("UTF-8");
    let (head, body) = text.split_once("\r\n\r\n").expect("a response");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    (status, serde_json::from_str(body).expect("a JSON body"))
}

#[test]
fn generated_patients_are_served() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let out = Command::new(env!("CARGO_BIN_EXE_hemolink"))
        .args(["generate", "--patients", "3", "--data-dir"])
        .arg(&data)
        .env_remove("HEMOLINK_CONFIG")
        .output()
        .expect("run hemolink generate");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("generated 3 patients"), "{stdout}");

    let plan = hemolink::generate::Plan::new(hemolink::generate::DEFAULT_SEED, 3);
    let facts = plan.patient(1).facts;
    let server = serve(&data);
    let (status, patient) = get(&server.addr, "/Patient/gen-pat-000001");
    assert_eq!(status, 200, "{patient}");
    assert_eq!(patient["name"][0]["family"], facts.family);
    assert_eq!(patient["identifier"][0]["value"], facts.mrn.as_str());
    let gp = patient["generalPractitioner"][0]["reference"]
        .as_str()
        .expect("a GP");
    let (status, practitioner) = get(&server.addr, &format!("/{gp}"));
    assert_eq!(status, 200, "{practitioner}");
    let (status, observation) = get(&server.addr, "/Observation/gen-obs-000003-01");
    assert_eq!(status, 200, "{observation}");
    assert_eq!(
        observation["subject"]["reference"],
        "Patient/gen-pat-000003"
    );
}
