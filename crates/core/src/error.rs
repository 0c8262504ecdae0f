//! The error type of candor-core (and the model every paper crate follows).

use std::path::PathBuf;

/// Errors returned by candor-core. Bad user input is always an `Err`, never a panic.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The caller passed something the operation cannot accept (wrong shape, NaN, empty…).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The operation has no implementation for this device, dtype or build (e.g. an
    /// op without a CUDA kernel, or `--device cuda` in a build without the `cuda`
    /// feature). The message names the operation and the device.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file exists but its contents are not what was expected.
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
    /// An error raised by candle. The conversion from `candle_core::Error` drops the
    /// backtrace candle captures under `RUST_BACKTRACE`, so the message is the cause,
    /// not a page of frames; the candle error itself (and its source chain) is kept.
    #[error(transparent)]
    Candle(candle_core::Error),
    /// JSON (de)serialisation failed.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

impl From<candle_core::Error> for Error {
    fn from(e: candle_core::Error) -> Self {
        Error::Candle(strip_backtrace(e))
    }
}

/// candle's error without the backtraces it captures under `RUST_BACKTRACE`, at any
/// depth of its context and path wrappers (resolving one for a message costs tens of
/// MB and buries the cause).
fn strip_backtrace(e: candle_core::Error) -> candle_core::Error {
    use candle_core::Error as C;
    match e {
        C::WithBacktrace { inner, .. } => strip_backtrace(*inner),
        C::Context { inner, context } => C::Context {
            inner: Box::new(strip_backtrace(*inner)),
            context,
        },
        C::WithPath { inner, path } => C::WithPath {
            inner: Box::new(strip_backtrace(*inner)),
            path,
        },
        e => e,
    }
}

/// `Result` with candor-core's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Shorthand for [`Error::InvalidInput`].
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::InvalidInput(msg.into())
    }

    /// Wrap an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// A malformed file.
    pub fn format(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Format {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// Return `Err(Error::InvalidInput)` with a formatted message.
#[macro_export]
macro_rules! bail_invalid {
    ($($arg:tt)*) => {
        return Err($crate::Error::InvalidInput(format!($($arg)*)))
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::backtrace::Backtrace;

    /// What `candle_core::Error::bt` builds under `RUST_BACKTRACE`, without setting
    /// the variable (tests share the process).
    fn with_backtrace(inner: candle_core::Error) -> (candle_core::Error, String) {
        let backtrace = Backtrace::force_capture();
        let frames = backtrace.to_string();
        let e = candle_core::Error::WithBacktrace {
            inner: Box::new(inner),
            backtrace: Box::new(backtrace),
        };
        (e, frames)
    }

    #[test]
    fn candle_errors_display_without_backtrace() {
        let (raw, frames) = with_backtrace(candle_core::Error::Msg("bad shape".into()));
        assert!(!frames.trim().is_empty());
        assert!(raw.to_string().contains(&frames));
        let e = Error::from(raw);
        assert_eq!(e.to_string(), "bad shape");
        assert!(matches!(e, Error::Candle(candle_core::Error::Msg(_))));
    }

    #[test]
    fn nested_backtraces_are_stripped_too() {
        let (inner, frames) = with_backtrace(candle_core::Error::Msg("bad shape".into()));
        let (raw, _) = with_backtrace(inner.context("loading w").with_path("a/b.safetensors"));
        assert!(raw.to_string().contains(&frames));
        let e = Error::from(raw);
        assert_eq!(
            e.to_string(),
            "path: \"a/b.safetensors\" loading w\nbad shape"
        );
    }

    #[derive(Debug, thiserror::Error)]
    #[error("reading w")]
    struct Reading(#[source] std::io::Error);

    #[test]
    fn source_chain_is_kept() {
        let cause = Reading(std::io::Error::other("disk on fire"));
        let (raw, _) = with_backtrace(candle_core::Error::Io(std::io::Error::other(cause)));
        // candle's backtrace wrapper has no source: the chain stopped there.
        assert!(std::error::Error::source(&raw).is_none());
        let e = Error::from(raw);
        assert_eq!(e.to_string(), "reading w");
        let src = std::error::Error::source(&e).expect("a source");
        assert_eq!(src.to_string(), "disk on fire");
    }
}
