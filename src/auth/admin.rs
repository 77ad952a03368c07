//! `hemolink auth …`: the command line that registers and removes the
//! authorization server's clients and users in the registry of `--data-dir`
//! (see [`super::registry`]). A client secret is printed once; a password is
//! read from standard input, so that it stays out of the shell's history and
//! the process list.

use super::keys::TOKEN_LIFETIME_MAX;
use super::launch::{LAUNCH_LIFETIME, LaunchContext};
use super::registry::{Client, ClientKind, MAX_SECRET, Registry, Role, User, new_secret};
use super::scope::Scope;
use crate::fhir::instant::format_instant;
use std::io::BufRead;
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Subcommand)]
pub enum AuthCommand {
    /// Register a client application. A confidential symmetric client's
    /// secret is printed once and kept only as a hash.
    AddClient {
        /// The client_id (made up when not given).
        #[arg(long)]
        id: Option<String>,
        /// The name users see on the consent page.
        #[arg(long)]
        name: String,
        #[arg(long = "type", value_enum)]
        kind: ClientKind,
        /// A redirect URI (repeat for several): https, or http to a loopback address.
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// The scopes it may be granted, space-separated (SMART v2, or v1 read as v2).
        #[arg(long)]
        scopes: String,
        /// Where an asymmetric client publishes its public keys.
        #[arg(long)]
        jwks_url: Option<String>,
        /// A file holding an asymmetric client's public keys (a JWKS).
        #[arg(long)]
        jwks_file: Option<PathBuf>,
    },
    /// Register a user; the password is the first line of standard input.
    AddUser {
        #[arg(long)]
        username: String,
        #[arg(long, value_enum)]
        role: Role,
        /// The FHIR resource the user is (`Patient/123`, `Practitioner/abc`):
        /// the `fhirUser` claim, and a patient user's compartment.
        #[arg(long)]
        fhir_user: Option<String>,
    },
    /// List the clients, users and signing keys (never a secret).
    List,
    /// Make a new signing key; the old ones stop signing and stay in the
    /// published JWKS until the tokens they signed have expired.
    RotateKey,
    /// Create an EHR launch context and print its `launch` value, which an
    /// app opened with it exchanges once, within 600 s.
    AddLaunch {
        /// The patient the app opens (an id).
        #[arg(long)]
        patient: Option<String>,
        /// The encounter it opens (an id).
        #[arg(long)]
        encounter: Option<String>,
        /// Another resource in context, `Type/id` (repeat for several).
        #[arg(long = "fhir-context")]
        fhir_context: Vec<String>,
        /// The EHR shows the patient already: the app need not.
        #[arg(long)]
        no_patient_banner: bool,
        /// What the app should do (`intent`).
        #[arg(long)]
        intent: Option<String>,
    },
    /// Print the argon2 hash of the secret or password on the first line of
    /// standard input, for `secret_hash` or `password_hash` in the
    /// configuration file's `[[auth_client]]` and `[[auth_user]]` tables.
    HashSecret,
    /// Remove a client.
    RemoveClient { id: String },
    /// Remove a user.
    RemoveUser { username: String },
}

/// Runs one `hemolink auth` command on the registry of `data_dir`.
pub fn run(command: AuthCommand, data_dir: &Path) -> Result<(), String> {
    let registry = Registry::open(data_dir)?;
    match command {
        AuthCommand::AddClient {
            id,
            name,
            kind,
            redirect_uris,
            scopes,
            jwks_url,
            jwks_file,
        } => {
            let jwks = jwks_file
                .map(|f| std::fs::read_to_string(&f).map_err(|e| format!("{}: {e}", f.display())))
                .transpose()?;
            let client = Client {
                id: id.unwrap_or_else(|| new_secret()[..22].to_string()),
                name,
                kind,
                redirect_uris,
                scopes: Scope::parse_list(&scopes)?
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
                jwks_url,
                jwks,
            };
            let secret = registry.add_client(&client)?;
            println!("client_id: {}", client.id);
            if let Some(secret) = secret {
                println!("client_secret: {secret}");
                eprintln!("The secret is shown this once; only its hash is kept.");
            }
            Ok(())
        }
        AuthCommand::AddUser {
            username,
            role,
            fhir_user,
        } => {
            let password = read_password()?;
            let user = User {
                username,
                role,
                fhir_user,
            };
            registry.add_user(&user, &password)?;
            println!("user: {}", user.username);
            Ok(())
        }
        AuthCommand::List => {
            println!("clients:");
            for c in registry.clients()? {
                println!(
                    "  {}  {:?}  {}  redirect: {}  scopes: {}{}",
                    c.id,
                    c.name,
                    c.kind.as_str(),
                    c.redirect_uris.join(", "),
                    c.scopes.join(" "),
                    c.jwks_url
                        .map(|u| format!("  jwks: {u}"))
                        .or(c.jwks.map(|_| "  jwks: inline".into()))
                        .unwrap_or_default()
                );
            }
            println!("users:");
            for u in registry.users()? {
                println!(
                    "  {}  {}{}",
                    u.username,
                    u.role.as_str(),
                    u.fhir_user.map(|f| format!("  {f}")).unwrap_or_default()
                );
            }
            println!("signing keys:");
            for k in registry.keys()? {
                let state = match k.retired {
                    None => "signing".to_string(),
                    Some(t) => format!(
                        "retired {}, published until {}",
                        format_instant(t),
                        format_instant(t + TOKEN_LIFETIME_MAX * 1_000_000)
                    ),
                };
                println!(
                    "  {}  {}  made {}  {state}",
                    k.kid,
                    k.alg,
                    format_instant(k.created)
                );
            }
            Ok(())
        }
        AuthCommand::AddLaunch {
            patient,
            encounter,
            fhir_context,
            no_patient_banner,
            intent,
        } => {
            let context = LaunchContext::from_json(&serde_json::json!({
                "patient": patient,
                "encounter": encounter,
                "fhirContext": fhir_context
                    .iter()
                    .map(|r| serde_json::json!({"reference": r}))
                    .collect::<Vec<_>>(),
                "need_patient_banner": !no_patient_banner,
                "intent": intent,
            }))
            .map_err(|(at, e)| format!("{at}: {e}"))?;
            let launch = registry.add_launch(&context)?;
            println!("launch: {launch}");
            println!("valid {LAUNCH_LIFETIME} s, once");
            Ok(())
        }
        AuthCommand::HashSecret => {
            let secret = read_password()?;
            if secret.chars().count() < 8 || secret.len() > MAX_SECRET {
                return Err(format!(
                    "a secret or password has 8 characters at least and {MAX_SECRET} bytes at most"
                ));
            }
            println!("{}", super::registry::hash(&secret)?);
            Ok(())
        }
        AuthCommand::RotateKey => {
            let (key, retired) = registry.rotate_key()?;
            println!("signing key: {}", key.kid);
            println!(
                "{retired} retired key(s) stay published for {} s, for the tokens they signed",
                TOKEN_LIFETIME_MAX
            );
            Ok(())
        }
        AuthCommand::RemoveClient { id } => {
            if !registry.remove_client(&id)? {
                return Err(format!("no client '{id}'"));
            }
            println!("removed client {id}");
            Ok(())
        }
        AuthCommand::RemoveUser { username } => {
            if !registry.remove_user(&username)? {
                return Err(format!("no user '{username}'"));
            }
            println!("removed user {username}");
            Ok(())
        }
    }
}

/// The first line of standard input, without its line end; at most
/// [`MAX_SECRET`] bytes are read.
fn read_password() -> Result<String, String> {
    let stdin = std::io::stdin();
    let mut limited = std::io::Read::take(stdin.lock(), MAX_SECRET as u64 + 2);
    let mut line = String::new();
    std::io::BufReader::new(&mut limited)
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
    let password = line.trim_end_matches(['\r', '\n']).to_string();
    if password.is_empty() {
        return Err("give the password on standard input (first line)".into());
    }
    Ok(password)
}
