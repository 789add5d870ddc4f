//! The health service's statuses: every goalpost service and the server as
//! a whole (`""`) report SERVING while the database answers and NOT_SERVING
//! while it does not, or once the server is stopping.

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::server::NamedService;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::audits::service::AuditApi;
use crate::goals::service::GoalApi;
use crate::observations::service::MetricApi;
use crate::pb::audit_service_server::AuditServiceServer;
use crate::pb::goal_service_server::GoalServiceServer;
use crate::pb::metric_service_server::MetricServiceServer;
use crate::pb::progress_service_server::ProgressServiceServer;
use crate::progress::service::ProgressApi;

/// The names health reports on: the server as a whole and each service.
const REPORTED: [&str; 5] = [
    "",
    <AuditServiceServer<AuditApi> as NamedService>::NAME,
    <MetricServiceServer<MetricApi> as NamedService>::NAME,
    <GoalServiceServer<GoalApi> as NamedService>::NAME,
    <ProgressServiceServer<ProgressApi> as NamedService>::NAME,
];

/// Sets every reported name to `status`.
pub async fn set_all(health: &HealthReporter, status: ServingStatus) {
    for name in REPORTED {
        health.set_service_status(name, status).await;
    }
}

/// Keeps the statuses in step with the database's availability (`true`
/// while up) until aborted, which the server does when it starts stopping.
pub fn follow_database(health: HealthReporter, mut up: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let status = if *up.borrow_and_update() {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            };
            set_all(&health, status).await;
            if up.changed().await.is_err() {
                return;
            }
        }
    })
}
