//! REST `MOCK` integrations: answered by the gateway from the integration response the method
//! selects (rendered like any mapped response, see `rest::write_mapped`).

use portico_shared::snapshot::Mock;

use crate::error::GatewayError;

use super::Reply;

/// The mock's integration response; a mock without one is a configuration error.
pub fn invoke<'s>(m: &'s Mock) -> Result<Reply<'s, 'static>, GatewayError> {
    m.response
        .as_ref()
        .map(|m| Reply::Mapped(None, m))
        .ok_or(GatewayError::ApiConfiguration)
}
