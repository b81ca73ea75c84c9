//! Authorizers: HTTP API JWT and Cognito user pool tokens ([`jwt`]), Lambda authorizers
//! ([`lambda`]), and `AWS_IAM` signatures with REST resource policies ([`iam`]).

pub mod iam;
pub mod jwt;
pub mod lambda;
