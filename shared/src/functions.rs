//! Which Lambda functions this gateway hosts itself, for the data plane's Lambda client.
//!
//! The admin side's function host (`admin/src/lambda/`) publishes a new [`FunctionDirectory`]
//! into a [`FunctionDirectoryCell`] after every create and delete. A data plane worker reads it
//! with one atomic load (`arc_swap::Cache`) and, for a function it names, sends Lambda's `Invoke`
//! request to [`FunctionDirectory::invoke_addr`] (the admin listener) instead of AWS.
//!
//! Invariant: a directory is immutable once published, like a `Snapshot`.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;

/// The atomically swapped directory the data plane reads.
pub type FunctionDirectoryCell = Arc<ArcSwap<FunctionDirectory>>;

/// The functions hosted here and where their `Invoke` API is served.
#[derive(Debug, Default, Clone)]
pub struct FunctionDirectory {
    /// Function names (not ARNs), exactly as created.
    pub names: HashSet<Box<str>, foldhash::fast::RandomState>,
    /// The admin listener, serving `POST /2015-03-31/functions/{name}/invocations`; `None`
    /// until it is bound.
    pub invoke_addr: Option<SocketAddr>,
}

// === impl FunctionDirectory ===

impl FunctionDirectory {
    /// Whether `function` (a name, `name:$LATEST`, a partial ARN `account:function:name` or a
    /// full ARN `arn:aws:lambda:region:account:function:name`) is hosted here.
    pub fn hosts(&self, function: &str) -> bool {
        self.names.contains(function_name(function))
    }
}

/// The function name in a name, partial ARN or full ARN (any `:qualifier` dropped).
pub fn function_name(function: &str) -> &str {
    let rest = match function.find(":function:") {
        Some(i) => &function[i + ":function:".len()..],
        None => function,
    };
    rest.split(':').next().unwrap_or(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_arns() {
        for (input, name) in [
            ("hello", "hello"),
            ("hello:$LATEST", "hello"),
            ("000000000000:function:hello", "hello"),
            (
                "arn:aws:lambda:us-east-1:000000000000:function:hello",
                "hello",
            ),
            (
                "arn:aws:lambda:us-east-1:000000000000:function:hello:$LATEST",
                "hello",
            ),
        ] {
            assert_eq!(function_name(input), name, "{input}");
        }
        let mut d = FunctionDirectory::default();
        d.names.insert("hello".into());
        assert!(d.hosts("arn:aws:lambda:us-east-1:000000000000:function:hello"));
        assert!(!d.hosts("other"));
    }
}
