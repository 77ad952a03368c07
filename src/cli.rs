//! The command line: `hemolink serve`, `hemolink config show`, and the tools
//! that come with the server. Options are documented in `hemolink --help` and
//! in `docs/configuration.md`.

use crate::config::{Config, Options};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Hemolink: FHIR R4 server and HL7 v2 interface engine for blood establishments.
#[derive(Debug, Parser)]
#[command(name = "hemolink", version, about, long_about = None)]
pub struct Cli {
    /// TOML file of options (keys as the flags, with underscores: data_dir = "…").
    #[arg(long, global = true, env = "HEMOLINK_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The server's options; they may stand before or after the command.
    #[command(flatten)]
    pub options: Options,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (FHIR over HTTP on 127.0.0.1:8080, data in ./hemolink-data by default).
    Serve,
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Register and remove the authorization server's client applications and
    /// users (in --data-dir; a server running there sees the changes).
    #[command(subcommand)]
    Auth(crate::auth::admin::AuthCommand),
    /// Check the AuditEvents' hash chain in --data-dir. Not while a server runs
    /// on that directory.
    #[command(subcommand)]
    Audit(crate::audit::verify::AuditCommand),
    /// Measure create, read and update throughput, latency, fsyncs and memory of a server
    /// started for the purpose (see docs/benchmarks.md).
    Bench(crate::bench::BenchArgs),
    /// Measure FHIR search latency on generated data of several sizes: p50, p99,
    /// requests/s and matches per query, answers checked against the generator's plan.
    BenchSearch(crate::bench::search::SearchArgs),
    /// Benchmark bulk ingest: Synthea transaction Bundles replayed with fresh ids,
    /// posted over HTTP by concurrent clients and loaded by `hemolink load`, and one
    /// large transaction's peak RSS (see docs/benchmarks.md).
    BenchIngest(crate::bench::ingest::IngestArgs),
    /// Benchmark the HL7 v2 MLLP listener: messages/s and ACK latency with 1, 8
    /// and 64 connections, both acknowledgement modes, parse MB/s and mapped
    /// resources/s (see docs/benchmarks.md).
    BenchMllp(crate::bench::mllp::MllpArgs),
    /// Write synthetic patients (about twenty resources each: Patient, Encounters,
    /// Conditions, Observations, with shared Practitioners and Organizations) straight
    /// into the store of --data-dir. Not while a server runs on that directory.
    Generate(crate::generate::GenerateArgs),
    /// Load Bundles (transaction, batch, collection), resources and NDJSON files or
    /// folders into the store of --data-dir, or into a running server with --url;
    /// progress on stderr, a summary on stdout.
    Load(crate::load::LoadArgs),
    /// Rebuild the search index of every current resource of --data-dir from the
    /// search parameters of this build (a server does it by itself on start when
    /// they changed). Not while a server runs on that directory.
    Reindex,
    /// Write every official R4 example (and a generated instance of every type) to an
    /// in-process server, read each back as JSON and XML, and compare; then search for
    /// each example, and run the FHIRPath, JSON Patch and FHIRPath Patch test suites.
    Conformance {
        /// The test-data folder holding fhir-r4/examples, fhir-r4/examples-xml-json,
        /// fhir-r4/fhirpath and fhir-r4/patch.
        #[arg(
            long,
            env = "HEMOLINK_TESTDATA",
            default_value = "../shared/data",
            value_name = "DIR"
        )]
        data: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration (flags, environment, file, defaults) as TOML, secrets masked.
    Show,
}

/// Flags and environment first, then the file, then defaults.
fn resolve(file: Option<&PathBuf>, given: Options) -> Result<(Config, bool), String> {
    let from_file = match file {
        Some(path) => Options::from_file(path)?,
        None => Options::default(),
    };
    let merged = given.or(from_file);
    let base_given = merged.base_url.is_some();
    Ok((Config::resolve(merged)?, base_given))
}

fn init_logging(level: &str) {
    let level = level.parse().unwrap_or(tracing::Level::INFO);
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// `hemolink reindex`: rebuilds the index and reports how long it took.
fn reindex(config: &Config) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async {
        let backend = crate::store::sqlite::SqliteStore::open(&config.data_dir)
            .map_err(|e| format!("store: {e}"))?;
        let store = crate::store::Store::new(std::sync::Arc::new(backend), &config.base_url);
        let started = std::time::Instant::now();
        let done = store.reindex(false).await;
        store.close().await;
        let n = done.map_err(|e| format!("reindex: {e}"))?.unwrap_or(0);
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "reindexed {n} resources in {seconds:.1} s ({:.0} resources/s)",
            n as f64 / seconds.max(1e-9)
        );
        Ok(())
    })
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Conformance { data } => return crate::conformance::run(&data),
        Command::Bench(args) => return crate::bench::run(&args, cli.options.data_dir),
        Command::BenchSearch(args) => return crate::bench::search::run(&args),
        Command::BenchIngest(args) => return crate::bench::ingest::run(&args),
        Command::BenchMllp(args) => return crate::bench::mllp::run(&args),
        Command::Serve => {
            resolve(cli.config.as_ref(), cli.options).and_then(|(config, base_given)| {
                init_logging(&config.log_level);
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| format!("cannot start the runtime: {e}"))?;
                runtime.block_on(crate::server::serve(config, base_given))
            })
        }
        Command::Generate(args) => {
            resolve(cli.config.as_ref(), cli.options).and_then(|(config, _)| {
                init_logging(&config.log_level);
                crate::generate::run(&args, &config.data_dir, &config.base_url).map(|_| ())
            })
        }
        Command::Load(args) => resolve(cli.config.as_ref(), cli.options).and_then(|(config, _)| {
            init_logging(&config.log_level);
            crate::load::run(&args, &config)
        }),
        Command::Reindex => resolve(cli.config.as_ref(), cli.options).and_then(|(config, _)| {
            init_logging(&config.log_level);
            reindex(&config)
        }),
        Command::Audit(command) => resolve(cli.config.as_ref(), cli.options)
            .and_then(|(config, _)| crate::audit::verify::run(command, &config)),
        Command::Auth(command) => resolve(cli.config.as_ref(), cli.options)
            .and_then(|(config, _)| crate::auth::admin::run(command, &config.data_dir)),
        Command::Config(ConfigCommand::Show) => {
            resolve(cli.config.as_ref(), cli.options).map(|(config, _)| {
                print!("{}", config.show());
            })
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hemolink: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Every subcommand's arguments are read without a clash between its own
    /// names and the global options (clap only finds such a clash when the
    /// arguments are read, by panicking).
    #[test]
    fn every_command_line_parses() {
        Cli::command().debug_assert();
        for args in [
            vec!["serve", "--audit", "on", "--auth", "smart"],
            vec!["bench", "--with-audit", "--seconds", "1"],
            vec!["bench-search", "--with-audit", "--patients", "10"],
            vec!["bench-ingest"],
            vec!["bench-mllp"],
            vec!["audit", "verify", "--data-dir", "x"],
            vec!["auth", "list"],
            vec!["auth", "add-launch", "--patient", "p1"],
            vec!["generate", "--patients", "1"],
            vec!["load", "x.json"],
            vec!["reindex"],
            vec!["config", "show"],
            vec!["conformance"],
        ] {
            let mut argv = vec!["hemolink"];
            argv.extend(&args);
            let cli = Cli::try_parse_from(&argv);
            assert!(
                cli.is_ok(),
                "{args:?}: {}",
                cli.err().map(|e| e.to_string()).unwrap_or_default()
            );
        }
    }
}
