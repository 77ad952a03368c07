//! The command line: help, configuration from flags, environment and file (in
//! that order of precedence), the loopback rule, TLS, and a clean stop on SIGTERM.

use crate::harness::{read_response, start, start_in};
use std::io::Write;
use std::process::Command;

fn hemolink(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hemolink"));
    cmd.args(args).env_remove("HEMOLINK_CONFIG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run hemolink");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn help_documents_every_option() {
    let (ok, out, _) = hemolink(&["--help"], &[]);
    assert!(ok);
    for flag in [
        "--listen",
        "--data-dir",
        "--base-url",
        "--tls-cert",
        "--tls-key",
        "--insecure",
        "--max-body-size",
        "--config",
        "HEMOLINK_LISTEN",
    ] {
        assert!(out.contains(flag), "{flag} missing from help:\n{out}");
    }
}

#[test]
fn precedence_flag_env_file_default() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hemolink.toml");
    std::fs::write(&file, "listen = '127.0.0.1:7001'\ndata_dir = '/srv/file'\nbase_url = 'https://ann:s3cret@fhir.example/r4'\n").unwrap();
    let f = file.to_str().unwrap();
    let (ok, out, err) = hemolink(
        &["config", "show", "--config", f],
        &[("HEMOLINK_DATA_DIR", "/srv/env")],
    );
    assert!(ok, "{err}");
    assert!(out.contains("listen = \"127.0.0.1:7001\""), "{out}");
    assert!(
        out.contains("data_dir = \"/srv/env\""),
        "environment over file: {out}"
    );
    assert!(
        out.contains("https://ann:****@fhir.example/r4"),
        "secret masked: {out}"
    );
    assert!(!out.contains("s3cret"));
    let (_, out, _) = hemolink(
        &["config", "show", "--config", f, "--data-dir", "/srv/flag"],
        &[("HEMOLINK_DATA_DIR", "/srv/env")],
    );
    assert!(
        out.contains("data_dir = \"/srv/flag\""),
        "flag over environment: {out}"
    );
    let (_, out, _) = hemolink(&["config", "show"], &[]);
    assert!(
        out.contains("listen = \"127.0.0.1:8080\"") && out.contains("data_dir = \"hemolink-data\""),
        "{out}"
    );
    std::fs::write(&file, "lisen = 'typo'\n").unwrap();
    let (ok, _, err) = hemolink(&["config", "show", "--config", f], &[]);
    assert!(
        !ok && err.contains("lisen"),
        "unknown keys are refused: {err}"
    );
}

#[test]
fn non_loopback_needs_insecure() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let (ok, _, err) = hemolink(&["serve", "--listen", "0.0.0.0:0", "--data-dir", d], &[]);
    assert!(!ok);
    assert!(err.contains("--insecure"), "{err}");
    // With authorization, still not in clear: tokens and passwords cross the network.
    let (ok, _, err) = hemolink(
        &[
            "serve",
            "--listen",
            "0.0.0.0:0",
            "--auth",
            "smart",
            "--data-dir",
            d,
        ],
        &[],
    );
    assert!(!ok);
    assert!(err.contains("without TLS"), "{err}");
}

#[test]
fn base_url_comes_from_configuration_not_host() {
    let s = start(&["--base-url", "https://blood.example/fhir/"]);
    assert_eq!(s.base, "https://blood.example/fhir");
    let r = s.request(
        "POST",
        "/Patient",
        &[
            ("Content-Type", "application/fhir+json"),
            ("Host", "evil.example"),
        ],
        br#"{"resourceType":"Patient"}"#,
    );
    assert!(
        r.header("location")
            .unwrap()
            .starts_with("https://blood.example/fhir/Patient/")
    );
}

#[test]
fn sigterm_stops_cleanly_and_data_survives() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut s = start_in(&data, &[]);
    let id = s.create(&serde_json::json!({"resourceType": "Patient", "active": true}));
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(s.child.id() as i32, libc::SIGTERM) };
    let status = s.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(data.join("hemolink.db").exists());
    assert!(
        !data.join("hemolink.db-wal").exists()
            || std::fs::metadata(data.join("hemolink.db-wal"))
                .unwrap()
                .len()
                == 0,
        "WAL checkpointed on close"
    );
    let s = start_in(&data, &[]);
    assert_eq!(s.get(&format!("/Patient/{id}")).status, 200);
}

#[test]
fn tls() {
    let dir = tempfile::tempdir().unwrap();
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let s = start(&[
        "--tls-cert",
        cert_path.to_str().unwrap(),
        "--tls-key",
        key_path.to_str().unwrap(),
    ]);
    assert!(s.base.starts_with("https://"), "{}", s.base);
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
    let tcp = std::net::TcpStream::connect(&s.addr).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(b"GET /metadata HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let r = read_response(&mut tls, false).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["resourceType"], "CapabilityStatement");
    let plain = crate::harness::send(&s.addr, "GET", "/metadata", &[], b"");
    assert!(
        plain.is_err() || plain.unwrap().status != 200,
        "plain HTTP is not served on a TLS port"
    );
}

#[test]
fn start_up_says_where_it_listens_and_keeps_data() {
    let s = start(&[]);
    assert!(
        s.stdout
            .iter()
            .any(|l| l.contains("listening on http://127.0.0.1:")),
        "{:?}",
        s.stdout
    );
    assert!(
        s.stdout.iter().any(|l| l.starts_with("data in ")),
        "{:?}",
        s.stdout
    );
    assert_eq!(s.get("/ready").status, 200);
    assert_eq!(s.get("/health").status, 200);
}

/// `hemolink auth` with a password on standard input.
pub fn auth(dir: &std::path::Path, args: &[&str], stdin: &str) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hemolink"))
        .args(["auth"])
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env_remove("HEMOLINK_CONFIG")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run hemolink auth");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn auth_administration_registers_lists_and_removes_clients_and_users() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (ok, out, err) = auth(
        d,
        &[
            "add-client",
            "--id",
            "lab",
            "--name",
            "Lab portal",
            "--type",
            "confidential-symmetric",
            "--redirect-uri",
            "https://lab.example/cb",
            "--scopes",
            "openid fhirUser user/Observation.read",
        ],
        "",
    );
    assert!(ok, "{err}");
    let secret = out
        .lines()
        .find_map(|l| l.strip_prefix("client_secret: "))
        .expect("the secret is shown once");
    assert!(out.contains("client_id: lab"));
    let (ok, _, err) = auth(
        d,
        &[
            "add-user",
            "--username",
            "ana",
            "--role",
            "patient",
            "--fhir-user",
            "Patient/D100234",
        ],
        "donor password 1\n",
    );
    assert!(ok, "{err}");
    let (ok, list, _) = auth(d, &["list"], "");
    assert!(ok);
    assert!(
        list.contains("lab  \"Lab portal\"  confidential-symmetric"),
        "{list}"
    );
    assert!(
        list.contains("openid fhirUser user/Observation.read"),
        "a v1 scope is kept as written (it means user/Observation.rs): {list}"
    );
    assert!(list.contains("ana  patient  Patient/D100234"), "{list}");
    assert!(!list.contains(secret) && !list.contains("donor password"));
    let registry = std::fs::read(d.join("auth.db")).unwrap();
    for plain in [secret.as_bytes(), b"donor password 1"] {
        assert!(
            !registry.windows(plain.len()).any(|w| w == plain),
            "a secret is stored in clear"
        );
    }

    for (args, stdin, why) in [
        (
            vec!["add-user", "--username", "bo", "--role", "admin"],
            "",
            "standard input",
        ),
        (
            vec!["add-user", "--username", "bo", "--role", "patient"],
            "long enough pw\n",
            "--fhir-user Patient",
        ),
        (
            vec![
                "add-client",
                "--name",
                "x",
                "--type",
                "public",
                "--redirect-uri",
                "https://x.example/cb",
                "--scopes",
                "patient/Unicorn.rs",
            ],
            "",
            "not an R4 resource type",
        ),
        (vec!["remove-client", "nobody"], "", "no client 'nobody'"),
    ] {
        let (ok, _, err) = auth(d, &args, stdin);
        assert!(!ok, "{args:?} succeeded");
        assert!(err.contains(why), "{args:?}: {err}");
    }
    let (_, list, _) = auth(d, &["list"], "");
    assert_eq!(
        list.lines().count(),
        5,
        "nothing refused was stored:\n{list}"
    );

    assert!(auth(d, &["remove-client", "lab"], "").0);
    assert!(auth(d, &["remove-user", "ana"], "").0);
    let (_, list, _) = auth(d, &["list"], "");
    assert_eq!(list, "clients:\nusers:\nsigning keys:\n");
}

#[test]
fn auth_rotate_key_keeps_the_old_key_published_and_the_registry_private() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let kid = |out: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix("signing key: "))
            .unwrap()
            .to_string()
    };
    let (ok, first, err) = auth(d, &["rotate-key"], "");
    assert!(ok, "{err}");
    assert!(first.contains("0 retired key(s)"), "{first}");
    let (ok, second, _) = auth(d, &["rotate-key"], "");
    assert!(ok);
    assert!(
        second.contains("1 retired key(s) stay published for 3600 s"),
        "{second}"
    );
    let (_, list, _) = auth(d, &["list"], "");
    let new = format!("  {}  ES384  made ", kid(&second));
    let old = format!("  {}  ES384  made ", kid(&first));
    assert!(
        list.contains(&new) && list.contains("  signing\n"),
        "{list}"
    );
    assert!(
        list.contains(&old) && list.contains("published until"),
        "{list}"
    );
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(d.join("auth.db")).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "the registry holds private keys");
    for side in ["auth.db-wal", "auth.db-shm"] {
        if let Ok(m) = std::fs::metadata(d.join(side)) {
            let mode = std::os::unix::fs::PermissionsExt::mode(&m.permissions());
            assert_eq!(mode & 0o077, 0, "{side} is readable by others");
        }
    }
}
