//! Formatting an error with its causes (`outer: inner: root`) for logs and messages.

use std::error::Error;
use std::fmt;

/// Displays an error followed by each of its sources: `outer: inner: root`.
#[derive(Clone, Copy)]
pub struct ErrorChain<'a>(pub &'a dyn Error);

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

impl fmt::Debug for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// `error: cause: cause…` as one string, for logs and stored failure reasons.
pub fn error_chain(e: &dyn Error) -> String {
    ErrorChain(e).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl fmt::Display for Layer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl Error for Layer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.1.as_deref().map(|l| l as &(dyn Error + 'static))
        }
    }

    #[test]
    fn each_cause_follows_its_error_after_a_colon() {
        let e = Layer(
            "outer",
            Some(Box::new(Layer(
                "inner",
                Some(Box::new(Layer("root", None))),
            ))),
        );
        assert_eq!(error_chain(&e), "outer: inner: root");
        assert_eq!(error_chain(&Layer("alone", None)), "alone");
    }
}
