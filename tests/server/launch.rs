//! The EHR launch over the wire: an administrator creates a launch context
//! through `POST /admin/launch` (or `hemolink auth add-launch`), the app
//! asks for scope `launch` with that value, the sign-in page names the
//! patient instead of asking for one, and the token response carries the
//! context; a launch is used once. The admin role: only an administrator's
//! token may create launches or use the HL7 admin API.

use crate::auth::{app_server, authorize_query, form, launch_with, pkce, query_of};
use crate::harness::Server;
use serde_json::{Value, json};

fn bearer(token: &Value) -> String {
    format!("Bearer {}", token["access_token"].as_str().unwrap())
}

fn create_launch(s: &Server, bearer: &str, context: &Value) -> crate::harness::Response {
    s.request(
        "POST",
        "/admin/launch",
        &[
            ("Authorization", bearer),
            ("Content-Type", "application/json"),
        ],
        context.to_string().as_bytes(),
    )
}

#[test]
fn an_ehr_launch_carries_its_context_to_the_app_once() {
    let (s, dir) = app_server();
    let admin = launch_with(
        &s,
        "donor-app",
        "user/Observation.rs",
        ("root", "root's password"),
        None,
        "",
    );
    let dr = launch_with(
        &s,
        "donor-app",
        "user/Observation.rs",
        ("dr", "dr's password"),
        None,
        "",
    );
    let context = json!({"patient": "P1", "encounter": "E1",
        "fhirContext": [{"reference": "DiagnosticReport/r1", "role": "launch"}],
        "need_patient_banner": false, "intent": "review"});
    // Only an administrator creates launches; a bad context names its fault.
    let r = create_launch(&s, &bearer(&dr), &context);
    assert_eq!(r.status, 403, "{}", r.text());
    let r = create_launch(&s, "Bearer nonsense", &context);
    assert_eq!(r.status, 401);
    let r = create_launch(&s, &bearer(&admin), &json!({"patient": "../x"}));
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["issue"][0]["expression"][0], "patient");
    let r = create_launch(&s, &bearer(&admin), &context);
    assert_eq!(r.status, 201, "{}", r.text());
    let launch = r.json()["launch"].as_str().unwrap().to_string();
    assert_eq!(r.json()["expires_in"], 600);

    // The page names the patient and asks for none.
    let scope = "launch launch/encounter patient/Patient.rs openid fhirUser";
    let (_, challenge) = pkce();
    let q = authorize_query(
        &s,
        "donor-app",
        "http://127.0.0.1:9999/cb",
        scope,
        &challenge,
    );
    let other = create_launch(&s, &bearer(&admin), &context).json()["launch"]
        .as_str()
        .unwrap()
        .to_string();
    let page = s.get(&format!("/auth/authorize?{q}&launch={other}")).text();
    assert!(
        page.contains("opens the record of patient <code>P1</code>"),
        "{page}"
    );
    assert!(!page.contains("name=\"patient\""), "no picker: {page}");

    let token = launch_with(
        &s,
        "donor-app",
        scope,
        ("dr", "dr's password"),
        None,
        &format!("&launch={launch}"),
    );
    assert_eq!(token["patient"], "P1");
    assert_eq!(token["encounter"], "E1");
    assert_eq!(
        token["fhirContext"],
        json!([{"reference": "DiagnosticReport/r1", "role": "launch"}])
    );
    assert_eq!(token["need_patient_banner"], false);
    assert_eq!(token["intent"], "review");
    let granted: Vec<&str> = token["scope"].as_str().unwrap().split(' ').collect();
    assert!(
        granted.contains(&"launch") && granted.contains(&"launch/encounter"),
        "{granted:?}"
    );
    // The token is confined to the launch's patient.
    let r = s.get_with("/Patient/P2", &[("Authorization", &bearer(&token))]);
    assert_eq!(
        r.status, 404,
        "P2 does not exist, and the check comes after the read"
    );

    // Used once; unknown; scope launch without a launch; a launch without scope launch.
    for (scope, extra, error) in [
        (
            "launch patient/Patient.rs",
            format!("&launch={launch}"),
            "invalid_request",
        ),
        (
            "launch patient/Patient.rs",
            "&launch=made-up".to_string(),
            "invalid_request",
        ),
        (
            "launch patient/Patient.rs",
            String::new(),
            "invalid_request",
        ),
        (
            "patient/Patient.rs",
            format!("&launch={other}"),
            "invalid_scope",
        ),
    ] {
        let (_, challenge) = pkce();
        let q = authorize_query(
            &s,
            "donor-app",
            "http://127.0.0.1:9999/cb",
            scope,
            &challenge,
        );
        let r = s.get(&format!("/auth/authorize?{q}{extra}"));
        assert_eq!(r.status, 302, "{scope} {extra}: {}", r.text());
        let location = r.header("location").unwrap();
        assert_eq!(
            query_of(location, "error").as_deref(),
            Some(error),
            "{scope} {extra}"
        );
        assert_eq!(query_of(location, "state").as_deref(), Some("st-1"));
    }

    // A patient may only be launched into their own record.
    let theirs = create_launch(&s, &bearer(&admin), &json!({"patient": "P2"})).json()["launch"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, challenge) = pkce();
    let q = authorize_query(
        &s,
        "donor-app",
        "http://127.0.0.1:9999/cb",
        "launch patient/Patient.rs",
        &challenge,
    );
    let page = s
        .get(&format!("/auth/authorize?{q}&launch={theirs}"))
        .text();
    let id = crate::auth::request_id(&page);
    let r = crate::auth::post_form(
        &s,
        "/auth/login",
        &form(&[
            ("request", &id),
            ("username", "ana"),
            ("password", "ana's password"),
            ("scope", "launch"),
            ("scope", "patient/Patient.rs"),
        ]),
        &[],
    );
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.header("location").is_none());

    // The command line makes launches too.
    let data = dir.path().join("data");
    let (ok, out, err) = crate::cli::auth(
        &data,
        &["add-launch", "--patient", "P1", "--encounter", "E9"],
        "",
    );
    assert!(ok, "{err}");
    let cli_launch = out
        .lines()
        .find_map(|l| l.strip_prefix("launch: "))
        .unwrap()
        .to_string();
    let token = launch_with(
        &s,
        "donor-app",
        "launch patient/Patient.rs",
        ("dr", "dr's password"),
        None,
        &format!("&launch={cli_launch}"),
    );
    assert_eq!(
        (token["patient"].as_str(), token["encounter"].as_str()),
        (Some("P1"), Some("E9"))
    );
    assert_eq!(token["need_patient_banner"], true);
}

#[test]
fn the_hl7_admin_api_needs_an_administrator() {
    let (s, _dir) = app_server();
    let admin = launch_with(
        &s,
        "donor-app",
        "user/Observation.rs",
        ("root", "root's password"),
        None,
        "",
    );
    let dr = launch_with(
        &s,
        "donor-app",
        "user/Observation.rs",
        ("dr", "dr's password"),
        None,
        "",
    );
    let r = s.get_with("/admin/hl7/messages", &[("Authorization", &bearer(&dr))]);
    assert_eq!(r.status, 403, "{}", r.text());
    let r = s.get_with("/admin/hl7/messages", &[("Authorization", &bearer(&admin))]);
    assert_eq!(r.status, 200, "{}", r.text());
    // A role taken away takes effect at once: the administrator removed.
    let data = _dir.path().join("data");
    let (ok, _, err) = crate::cli::auth(&data, &["remove-user", "root"], "");
    assert!(ok, "{err}");
    let r = s.get_with("/admin/hl7/messages", &[("Authorization", &bearer(&admin))]);
    assert_eq!(r.status, 403, "{}", r.text());
}

/// Clients and users declared in the configuration file, with hashes made
/// by `hemolink auth hash-secret`: registered at start, usable at once, and
/// no secret in the file or in `config show`.
#[test]
fn clients_and_users_declared_in_the_configuration_file_are_registered() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let hash = |secret: &str| {
        let (ok, out, err) = crate::cli::auth(&data, &["hash-secret"], &format!("{secret}\n"));
        assert!(ok, "{err}");
        out.trim().to_string()
    };
    let secret = "a long client secret 123";
    let file = dir.path().join("hemolink.toml");
    std::fs::write(
        &file,
        format!(
            r#"auth = "smart"

[[auth_client]]
id = "kiosk"
name = "Donor kiosk"
type = "public"
redirect_uris = ["http://127.0.0.1:9999/cb"]
scopes = "launch/patient patient/Patient.rs"

[[auth_client]]
id = "lab-api"
name = "Lab API"
type = "confidential-symmetric"
redirect_uris = ["https://lab.example/cb"]
scopes = "user/Observation.rs"
secret_hash = "{}"

[[auth_user]]
username = "eve"
role = "patient"
fhir_user = "Patient/E1"
password_hash = "{}"
"#,
            hash(secret),
            hash("eve's password")
        ),
    )
    .unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(!text.contains(secret) && !text.contains("eve's password"));
    let config = file.to_string_lossy().into_owned();
    let s = crate::harness::start_in(&data, &["--config", &config]);
    let token = launch_with(
        &s,
        "kiosk",
        "launch/patient patient/Patient.rs",
        ("eve", "eve's password"),
        None,
        "",
    );
    assert_eq!(token["patient"], "E1");
    // The symmetric client authenticates with the secret whose hash is declared.
    for (given, status) in [(secret, 200), ("wrong secret", 401)] {
        let r = crate::auth::post_form(
            &s,
            "/auth/introspect",
            &form(&[
                ("token", "x"),
                ("client_id", "lab-api"),
                ("client_secret", given),
            ]),
            &[],
        );
        assert_eq!(r.status, status, "{given}: {}", r.text());
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hemolink"))
        .args(["config", "show", "--config", &config])
        .env_remove("HEMOLINK_CONFIG")
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("kiosk") && !shown.contains("$argon2"),
        "{shown}"
    );
    // A bad declaration stops the start with its reason.
    drop(s);
    std::fs::write(&file, "auth = \"smart\"\n[[auth_user]]\nusername = \"x\"\nrole = \"practitioner\"\npassword_hash = \"plain text\"\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hemolink"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--config",
            &config,
            "--data-dir",
        ])
        .arg(&data)
        .env_remove("HEMOLINK_CONFIG")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an argon2 hash"));
}
