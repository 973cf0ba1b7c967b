//! Ctrl-C and SIGTERM, as one stream, for the delivery shell.

/// Ctrl-C and SIGTERM, as one stream.
pub struct Signals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    pub fn new() -> Signals {
        Signals {
            #[cfg(unix)]
            term: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok(),
        }
    }

    /// The next Ctrl-C or SIGTERM.
    pub async fn recv(&mut self) {
        #[cfg(unix)]
        {
            let term = async {
                match &mut self.term {
                    Some(t) => {
                        t.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Where the shell hears "stop": the process's signals, or (in tests) a channel.
pub(crate) enum Interrupts {
    Os(Signals),
    #[cfg(test)]
    Scripted(tokio::sync::mpsc::UnboundedReceiver<()>),
}

impl Interrupts {
    /// The next interruption; never, once a scripted sender is gone.
    pub(crate) async fn recv(&mut self) {
        match self {
            Interrupts::Os(s) => s.recv().await,
            #[cfg(test)]
            Interrupts::Scripted(rx) => {
                if rx.recv().await.is_none() {
                    std::future::pending::<()>().await
                }
            }
        }
    }
}
