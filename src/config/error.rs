use std::path::PathBuf;

/// A configuration problem: always exit code 2, always one line naming the offending value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config {}: {}", .file.display(), one_line(.detail))]
    Syntax { file: PathBuf, detail: String },
    #[error("config {source_name}: {key} = {}: {expected}", one_line(.value))]
    Value {
        source_name: String,
        key: String,
        value: String,
        expected: String,
    },
    #[error("config {}: cannot read: {}", .file.display(), one_line(.detail))]
    Read { file: PathBuf, detail: String },
    #[error("{}", one_line(.0))]
    Invalid(String),
}

/// The contract's one line: a value that spans lines (a TOML multi-line string) is shown with
/// its line breaks escaped (found by tests/fuzz).
fn one_line(text: &str) -> String {
    text.trim_end().replace('\r', "\\r").replace('\n', "\\n")
}
