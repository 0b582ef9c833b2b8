use std::fmt;

/// An error that names the layer (when there is one), its op and the broken rule with its
/// numbers, e.g. `conv5_3 (conv2d): kernel 3×3 is larger than the padded input 1×1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub layer: Option<String>,
    pub op: Option<String>,
    pub message: String,
}

impl Error {
    pub fn model(message: impl Into<String>) -> Error {
        Error { layer: None, op: None, message: message.into() }
    }

    pub fn layer(layer: &str, op: &str, message: impl Into<String>) -> Error {
        Error { layer: Some(layer.to_string()), op: Some(op.to_string()), message: message.into() }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.layer, &self.op) {
            (Some(l), Some(o)) if !o.is_empty() => write!(f, "{l} ({o}): {}", self.message),
            (Some(l), _) => write!(f, "{l}: {}", self.message),
            _ => write!(f, "{}", self.message),
        }
    }
}

impl std::error::Error for Error {}
