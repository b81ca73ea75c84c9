//! The pipeline's stages, in the order `pipeline::handle` runs them: resolve the route,
//! authorize (JWT, Lambda and IAM authorizers, resource policies), admit (API keys,
//! throttles, quotas), the REST response cache, and request validation. Each takes the
//! request, the snapshot and only the per-core state it needs, and returns
//! `Result<_, GatewayError>`.

pub mod admit;
pub mod authorize;
pub mod cache;
pub mod resolve;
pub mod validate;
