//! REST API (`apigateway` v1) handler tests: `app(state).oneshot(req)`, no socket, an in-memory
//! store.
