//! End-to-end tests of the `hemolink` server: each starts the real binary on an
//! ephemeral port with a temporary data directory and talks HTTP to it.

mod harness;

mod audit;
mod auth;
mod browser;
mod bundle;
mod capability;
mod cli;
mod clients;
mod concurrency;
mod crash;
mod crud;
mod errors;
mod external;
mod formats;
mod history;
mod launch;
mod leak;
mod load;
mod mapping;
mod mllp;
mod patch;
mod search;
mod search_fixtures;
