//! AWS Signature Version 4. `verify`: checking a request's signature (admin API, `@connections`).

pub mod verify;
