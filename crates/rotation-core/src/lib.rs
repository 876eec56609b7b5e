//! The Secrets Manager rotation protocol, written once for every engine.
//!
//! A rotation Lambda is an [`Engine`] (what is specific to MySQL, PostgreSQL or Redis) plugged
//! into [`run`], which owns everything else: the event, the handler gate, the four steps
//! (createSecret, setSecret, testSecret, finishSecret), the confused-deputy checks, password
//! generation, Secrets Manager calls, errors and logs.
//!
//! Read [`protocol`] first: it is the whole rotation in one file. [`preflight`] is the check a
//! person runs by hand before the first rotation.

pub mod activity;
pub mod calendar;
pub mod config;
pub mod engine;
pub mod error;
pub mod event;
pub mod logging;
pub mod metrics;
pub mod preflight;
pub mod protocol;
pub mod runtime;
pub mod secret;
pub mod store;
pub mod tls;

pub use config::{Config, Strategy};
pub use engine::{Engine, KeptSession, Rights, RightsCheck, SetAlternate, SetPassword, Transport};
pub use error::{EngineError, RotationError};
pub use event::{RotationEvent, Step};
pub use runtime::run;
pub use secret::{DbSecret, SslMode};
pub use tls::TlsSettings;

/// Re-exported so engine crates and tests use the same redacting type.
pub use secrecy::{ExposeSecret, SecretString};
