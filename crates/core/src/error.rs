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
    /// An error raised by candle.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// JSON (de)serialisation failed.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
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
