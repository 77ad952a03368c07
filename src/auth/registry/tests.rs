//! The registry: what it keeps, what it refuses, and that secrets are kept
//! only as hashes.

use super::*;

fn public(id: &str) -> Client {
    Client {
        id: id.into(),
        name: "Donor app".into(),
        kind: ClientKind::Public,
        redirect_uris: vec!["https://app.example/callback".into()],
        scopes: vec!["launch/patient".into(), "patient/Observation.rs".into()],
        jwks_url: None,
        jwks: None,
    }
}

#[test]
fn a_symmetric_client_gets_a_secret_that_is_stored_hashed() {
    let dir = tempfile::tempdir().unwrap();
    let r = Registry::open(dir.path()).unwrap();
    let client = Client {
        kind: ClientKind::ConfidentialSymmetric,
        ..public("lab")
    };
    let secret = r.add_client(&client).unwrap().expect("a secret");
    assert!(secret.len() >= 43, "{secret}");
    assert!(verify(r.secret_hash("lab").unwrap().as_deref(), &secret));
    assert!(!verify(r.secret_hash("lab").unwrap().as_deref(), "wrong"));
    assert!(!verify(
        r.secret_hash("nobody").unwrap().as_deref(),
        &secret
    ));
    let stored: String = r
        .conn
        .query_row("SELECT secret_hash FROM client", [], |row| row.get(0))
        .unwrap();
    assert!(stored.starts_with("$argon2id$"), "{stored}");
    assert!(!stored.contains(&secret));
    assert_eq!(r.clients().unwrap(), vec![client]);
    assert_eq!(
        r.add_client(&public("lab")).unwrap_err(),
        "a client 'lab' exists already"
    );
}

#[test]
fn public_clients_have_no_secret_and_removal_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let r = Registry::open(dir.path()).unwrap();
    assert_eq!(r.add_client(&public("app")).unwrap(), None);
    assert!(!verify(r.secret_hash("app").unwrap().as_deref(), ""));
    assert!(r.remove_client("app").unwrap());
    assert!(!r.remove_client("app").unwrap());
    assert!(r.clients().unwrap().is_empty());
}

#[test]
fn users_and_passwords() {
    let dir = tempfile::tempdir().unwrap();
    let r = Registry::open(dir.path()).unwrap();
    let user = User {
        username: "ana".into(),
        role: Role::Patient,
        fhir_user: Some("Patient/D100234".into()),
    };
    r.add_user(&user, "correct horse").unwrap();
    assert!(verify(
        r.password_hash("ana").unwrap().as_deref(),
        "correct horse"
    ));
    assert!(!verify(
        r.password_hash("ana").unwrap().as_deref(),
        "correct hors"
    ));
    assert!(!verify(
        r.password_hash("ana").unwrap().as_deref(),
        &"x".repeat(10 << 20)
    ));
    assert_eq!(r.users().unwrap(), vec![user.clone()]);
    assert!(r.add_user(&user, "correct horse").is_err());
    assert!(r.remove_user("ana").unwrap());
    assert!(r.users().unwrap().is_empty());
}

#[test]
fn what_is_refused_is_not_stored() {
    let dir = tempfile::tempdir().unwrap();
    let r = Registry::open(dir.path()).unwrap();
    let bad_clients = [
        (
            Client {
                redirect_uris: vec!["http://app.example/cb".into()],
                ..public("a")
            },
            "absolute https URL",
        ),
        (
            Client {
                redirect_uris: vec!["https://app.example/cb#x".into()],
                ..public("a")
            },
            "fragment",
        ),
        (
            Client {
                redirect_uris: vec![],
                ..public("a")
            },
            "needs a redirect URI",
        ),
        (
            Client {
                scopes: vec!["patient/Unicorn.rs".into()],
                ..public("a")
            },
            "not an R4 resource type",
        ),
        (
            Client {
                kind: ClientKind::ConfidentialAsymmetric,
                ..public("a")
            },
            "needs its keys",
        ),
        (
            Client {
                kind: ClientKind::ConfidentialAsymmetric,
                jwks: Some(
                    r#"{"keys":[{"kty":"EC","crv":"P-384","x":"a","y":"b","d":"c"}]}"#.into(),
                ),
                ..public("a")
            },
            "private key",
        ),
        (
            Client {
                kind: ClientKind::ConfidentialAsymmetric,
                jwks: Some(r#"{"keys":[{"kty":"oct","k":"abc"}]}"#.into()),
                ..public("a")
            },
            "RSA (n, e) or EC P-384",
        ),
        (
            Client {
                jwks_url: Some("https://app.example/jwks".into()),
                ..public("a")
            },
            "only an asymmetric client",
        ),
        (public("a b"), "client id"),
    ];
    for (client, why) in bad_clients {
        let e = r.add_client(&client).unwrap_err();
        assert!(e.contains(why), "{client:?}: {e}");
    }
    for (uri, ok) in [
        ("http://127.0.0.1:8765/cb", true),
        ("http://localhost/cb", true),
        ("http://[::1]:9/cb", true),
        ("http://localhost.evil.example/cb", false),
        ("http://localhost:80@evil.example/cb", false),
        ("https://app.example@evil.example/cb", false),
        ("https:///cb", false),
    ] {
        assert_eq!(check_redirect(uri).is_ok(), ok, "{uri}");
    }
    let patient = User {
        username: "p".into(),
        role: Role::Patient,
        fhir_user: None,
    };
    assert!(r.add_user(&patient, "long enough").is_err());
    let practitioner = User {
        username: "dr".into(),
        role: Role::Practitioner,
        fhir_user: Some("Practitioner/x y".into()),
    };
    assert!(r.add_user(&practitioner, "long enough").is_err());
    let admin = User {
        username: "root".into(),
        role: Role::Admin,
        fhir_user: None,
    };
    assert!(r.add_user(&admin, "short").is_err());
    assert!(r.add_user(&admin, &"x".repeat(MAX_SECRET + 1)).is_err());
    assert!(r.clients().unwrap().is_empty());
    assert!(r.users().unwrap().is_empty());
    let asymmetric = Client {
        kind: ClientKind::ConfidentialAsymmetric,
        redirect_uris: vec![],
        scopes: vec!["system/*.rs".into()],
        jwks_url: Some("https://backend.example/jwks.json".into()),
        ..public("backend")
    };
    assert_eq!(r.add_client(&asymmetric).unwrap(), None);
}

#[test]
fn an_unknown_account_is_checked_against_a_decoy_and_never_matches() {
    assert!(
        PasswordHash::new(decoy()).is_ok(),
        "the decoy is a real argon2 hash"
    );
    assert!(!verify(None, "anything at all"));
    assert!(!verify(None, ""));
    let h = hash("the right one").unwrap();
    assert!(verify(Some(&h), "the right one"));
    assert!(!verify(Some(&h), "the wrong one"));
}
