//! Waiting for Ctrl-C or SIGTERM, for graceful shutdown.

/// Resolves on Ctrl-C (SIGINT) or, on Unix, SIGTERM.
///
/// On Unix the handlers are installed when this is called, not when the future is first
/// polled: call it before the listener is bound, so that a signal sent as soon as the
/// port accepts connections is not met by the default action (the process killed).
pub(crate) fn signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let (term, int) = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::terminate()).ok(),
            signal(SignalKind::interrupt()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(int) => tracing::info!("interrupted, shutting down"),
                () = wait(term) => tracing::info!("terminated, shutting down"),
            }
        }
        #[cfg(not(unix))]
        {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
            tracing::info!("interrupted, shutting down");
        }
    }
}
