//! Lambda's wire shapes (botocore's `lambda` model, `2015-03-31`) for the function host: the
//! `CreateFunction`/`UpdateFunctionConfiguration` inputs, their validation (every problem in one
//! message, as Lambda's `ValidationException`), and `FunctionConfiguration`, which is also the
//! stored document.

use std::collections::BTreeMap;

use portico_shared::limits::{LAMBDA_ENVIRONMENT_MAX_BYTES, LAMBDA_FUNCTION_NAME_MAX};
use portico_shared::limits::{
    LAMBDA_MEMORY_DEFAULT_MB, LAMBDA_MEMORY_MAX_MB, LAMBDA_MEMORY_MIN_MB, LAMBDA_TIMEOUT_DEFAULT_S,
    LAMBDA_TIMEOUT_MAX_S,
};
use serde::{Deserialize, Serialize};

use super::LambdaError;

/// Keys a function may not set: the runtime sets them (AWS's reserved list).
const RESERVED_KEYS: &[&str] = &[
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
];

/// What runs a function's code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Runtime {
    /// `provided`, `provided.al2`, `provided.al2023`: the zip's `bootstrap` executable.
    Provided,
    /// `python3.N`: `python3 -m awslambdaric <Handler>`.
    Python,
}

/// `CreateFunction`'s body (members Portico does not use, like `Tags` or `VpcConfig`, are
/// accepted and ignored, as an AWS-compatible endpoint must not break on them).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CreateInput {
    pub(crate) function_name: Option<String>,
    pub(crate) runtime: Option<String>,
    pub(crate) role: Option<String>,
    pub(crate) handler: Option<String>,
    pub(crate) code: Option<CodeInput>,
    pub(crate) description: Option<String>,
    pub(crate) timeout: Option<i64>,
    pub(crate) memory_size: Option<i64>,
    pub(crate) environment: Option<Environment>,
    pub(crate) package_type: Option<String>,
    /// Portico's extension: the reserved concurrency at creation (else `PutFunctionConcurrency`).
    pub(crate) reserved_concurrent_executions: Option<i64>,
}

/// `Code` of `CreateFunction`; only `ZipFile` is served (no S3 here).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CodeInput {
    pub(crate) zip_file: Option<String>,
    #[serde(rename = "S3Bucket")]
    pub(crate) s3_bucket: Option<String>,
    pub(crate) image_uri: Option<String>,
}

/// `UpdateFunctionCode`'s body: the code members of `CreateFunction`'s `Code`.
pub(crate) type UpdateCodeInput = CodeInput;

/// `UpdateFunctionConfiguration`'s body.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UpdateConfigInput {
    pub(crate) runtime: Option<String>,
    pub(crate) role: Option<String>,
    pub(crate) handler: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) timeout: Option<i64>,
    pub(crate) memory_size: Option<i64>,
    pub(crate) environment: Option<Environment>,
}

/// `PutFunctionConcurrency`'s body.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ConcurrencyInput {
    pub(crate) reserved_concurrent_executions: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Environment {
    #[serde(default)]
    pub(crate) variables: BTreeMap<String, String>,
}

/// Lambda's `FunctionConfiguration`, as answered and as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct FunctionConfiguration {
    pub(crate) function_name: String,
    pub(crate) function_arn: String,
    pub(crate) runtime: String,
    pub(crate) role: String,
    pub(crate) handler: String,
    pub(crate) code_size: u64,
    pub(crate) description: String,
    pub(crate) timeout: u32,
    pub(crate) memory_size: u32,
    pub(crate) last_modified: String,
    /// Base64 of the zip's SHA-256, as AWS.
    pub(crate) code_sha256: String,
    pub(crate) version: String,
    pub(crate) environment: Environment,
    pub(crate) revision_id: String,
    pub(crate) state: String,
    pub(crate) last_update_status: String,
    pub(crate) package_type: String,
    pub(crate) architectures: Vec<String>,
}

/// The stored document of one function: its configuration, where its code is unpacked and its
/// reserved concurrency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct StoredFunction {
    pub(crate) configuration: FunctionConfiguration,
    /// The code directory's name under `functions/{name}/` (a new one per code update).
    pub(crate) code_revision: String,
    pub(crate) reserved_concurrent_executions: Option<u32>,
}

// === impl Runtime ===

impl Runtime {
    /// The runtimes Portico runs; others (AWS has more) are refused.
    pub(crate) fn parse(s: &str) -> Option<Runtime> {
        match s {
            "provided" | "provided.al2" | "provided.al2023" => Some(Runtime::Provided),
            _ => {
                let minor = s.strip_prefix("python3.")?;
                (!minor.is_empty() && minor.bytes().all(|b| b.is_ascii_digit()))
                    .then_some(Runtime::Python)
            }
        }
    }
}

// === validation ===

/// A function name as AWS allows it: 1 to 64 of `[A-Za-z0-9_-]`.
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= LAMBDA_FUNCTION_NAME_MAX
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The `ValidationException` message listing every problem (AWS's wording).
pub(crate) fn validation_error(problems: Vec<String>) -> LambdaError {
    let n = problems.len();
    let noun = if n == 1 { "error" } else { "errors" };
    LambdaError::Validation(format!(
        "{n} validation {noun} detected: {}",
        problems.join("; ")
    ))
}

/// Checks `Runtime`, `Timeout`, `MemorySize`, `Handler` and `Environment` as AWS does, pushing
/// shape problems into `problems`; semantic ones (reserved keys, unsupported runtime) are
/// `InvalidParameterValueException`s, answered first.
pub(crate) fn check_settings(
    runtime: Option<&str>,
    handler: Option<&str>,
    timeout: Option<i64>,
    memory: Option<i64>,
    environment: Option<&Environment>,
    problems: &mut Vec<String>,
) -> Result<(), LambdaError> {
    if let Some(t) = timeout {
        if t < 1 || t > i64::from(LAMBDA_TIMEOUT_MAX_S) {
            problems.push(format!(
                "Value '{t}' at 'timeout' failed to satisfy constraint: Member must have value \
                 less than or equal to {LAMBDA_TIMEOUT_MAX_S} and greater than or equal to 1"
            ));
        }
    }
    if let Some(m) = memory {
        if m < i64::from(LAMBDA_MEMORY_MIN_MB) || m > i64::from(LAMBDA_MEMORY_MAX_MB) {
            problems.push(format!(
                "Value '{m}' at 'memorySize' failed to satisfy constraint: Member must have value \
                 less than or equal to {LAMBDA_MEMORY_MAX_MB} and greater than or equal to \
                 {LAMBDA_MEMORY_MIN_MB}"
            ));
        }
    }
    if let Some(h) = handler {
        if h.len() > 128
            || h.bytes()
                .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            problems.push(format!(
                "Value '{h}' at 'handler' failed to satisfy constraint: Member must satisfy \
                 regular expression pattern: [^\\s]+"
            ));
        }
    }
    if let Some(env) = environment {
        let mut bytes = 0;
        for (k, v) in &env.variables {
            bytes += k.len() + v.len();
            let ok = k.len() >= 2
                && k.as_bytes()[0].is_ascii_alphabetic()
                && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !ok {
                problems.push(format!(
                    "Value '{k}' at 'environment.variables' failed to satisfy constraint: Map \
                     keys must satisfy constraint: [Member must satisfy regular expression \
                     pattern: [a-zA-Z]([a-zA-Z0-9_])+]"
                ));
            }
            if v.contains('\0') {
                problems.push(format!(
                    "Value at 'environment.variables.{k}' failed to satisfy constraint: Member \
                     must not contain NUL"
                ));
            }
        }
        let reserved: Vec<&str> = env
            .variables
            .keys()
            .map(String::as_str)
            .filter(|k| RESERVED_KEYS.contains(k))
            .collect();
        if !reserved.is_empty() {
            return Err(LambdaError::InvalidParameter(format!(
                "Lambda was unable to configure your environment variables because the \
                 environment variables you have provided contains reserved keys that are \
                 currently not supported for modification. Reserved keys used in this request: \
                 {}",
                reserved.join(", ")
            )));
        }
        if bytes > LAMBDA_ENVIRONMENT_MAX_BYTES {
            return Err(LambdaError::InvalidParameter(format!(
                "Lambda was unable to configure your environment variables because the \
                 environment variables you have provided exceeded the 4KB limit. String \
                 measured: {bytes}"
            )));
        }
    }
    if let Some(r) = runtime {
        if Runtime::parse(r).is_none() {
            return Err(LambdaError::InvalidParameter(format!(
                "The runtime parameter of {r} is not supported by Portico: use provided.al2023, \
                 provided.al2, provided or python3.x"
            )));
        }
        if Runtime::parse(r) == Some(Runtime::Python) && handler.is_none_or(str::is_empty) {
            return Err(LambdaError::InvalidParameter(
                "Handler is required for the python runtimes".into(),
            ));
        }
    }
    Ok(())
}

/// The `Timeout` and `MemorySize` to store (AWS's defaults when absent); call after
/// [`check_settings`] accepted them.
pub(crate) fn timeout_s(t: Option<i64>) -> u32 {
    t.and_then(|t| u32::try_from(t).ok())
        .unwrap_or(LAMBDA_TIMEOUT_DEFAULT_S)
}

pub(crate) fn memory_mb(m: Option<i64>) -> u32 {
    m.and_then(|m| u32::try_from(m).ok())
        .unwrap_or(LAMBDA_MEMORY_DEFAULT_MB)
}

/// `LastModified` as Lambda writes it: `2024-05-01T12:34:56.000+0000`.
pub(crate) fn last_modified(secs: u64) -> String {
    let iso = crate::ids::iso8601(secs);
    format!("{}.000+0000", iso.trim_end_matches('Z'))
}
