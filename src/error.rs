//! Error helpers every layer may use.

/// Writes an error and its sources on one line, `outer: inner: …`, for log fields that
/// would otherwise show only the outer message.
#[derive(Debug, Clone, Copy)]
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(error) = source {
            write!(f, ": {error}")?;
            source = error.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot create data directory /data")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn chain_joins_every_source_on_one_line() {
        let error = Outer(std::io::Error::other("disk full"));
        assert_eq!(
            Chain(&error).to_string(),
            "cannot create data directory /data: disk full"
        );
    }
}
