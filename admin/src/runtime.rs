//! The admin side's background threads: each runs one current-thread tokio runtime of its own,
//! so nothing the admin does shares a thread with a data-plane worker.

use std::future::Future;
use std::thread::JoinHandle;

/// Starts thread `name` and runs the future `make()` returns on a current-thread tokio runtime
/// there. `make` runs on the new thread, inside the runtime, so what it builds may spawn tasks.
/// A runtime that fails to start is logged as `what` and the thread ends.
pub(crate) fn spawn_thread<F, Fut>(
    name: &str,
    what: &'static str,
    make: F,
) -> std::io::Result<JoinHandle<()>>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!(error = %e, "{what} runtime failed to start");
                    return;
                }
            };
            rt.block_on(async move { make().await });
        })
}
