//! Reaching a check's target: [`podkit::connect`] by the attempt's deadline, TLS on top if
//! asked, and a failure as the probe reports it (unreachable, naming the target).

use podkit::addr::Address;
use podkit::connect::{connect_tls, ConnectError, Connection, TlsTarget};
use tokio::time::Instant;

use crate::outcome::{Finding, TimedOut};

/// Connects to `endpoint` by `deadline`. The inner `Err` is the finding of a target that could
/// not be reached; the outer one, that the time ran out first, which the caller words.
pub async fn connect(
    endpoint: &Address,
    deadline: Instant,
    tls: Option<&TlsTarget>,
) -> Result<Result<Connection, Finding>, TimedOut> {
    let left = deadline.saturating_duration_since(Instant::now());
    match connect_tls(endpoint, left, tls).await {
        Ok(stream) => Ok(Ok(stream)),
        Err(ConnectError::TimedOut) => Err(TimedOut),
        Err(error) => Ok(Err(Finding::unreachable(error.describe(endpoint)))),
    }
}
