use std::path::PathBuf;

/// A configuration problem: always exit code 2, always one line naming the offending value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config {file}: {detail}")]
    Syntax { file: PathBuf, detail: String },
    #[error("config {source_name}: {key} = {value}: {expected}")]
    Value {
        source_name: String,
        key: String,
        value: String,
        expected: String,
    },
    #[error("config {file}: cannot read: {detail}")]
    Read { file: PathBuf, detail: String },
    #[error("{0}")]
    Invalid(String),
}
