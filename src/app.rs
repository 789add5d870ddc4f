//! Builds the server (database, migrations, services, health, reflection) and
//! runs it until told to stop.

use std::future::Future;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgConnectOptions;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Server, ServerTlsConfig};
use tower::util::{MapRequestLayer, MapResponseLayer};

use crate::api::body::watch_request_body;
use crate::api::call_budget::CallBudget;
use crate::api::concurrency::ConcurrencyLimit;
use crate::api::database_gate::DatabaseGate;
use crate::api::guard::GuardLayer;
use crate::api::idempotency;
use crate::api::pagination::PageSizes;
use crate::api::too_large::answer_too_large_as_exhausted;
use crate::audits::service::AuditApi;
use crate::auth::layer::AuthLayer;
use crate::auth::verify::Verifier;
use crate::auth::{ListenRefusal, check_listen_policy};
use crate::catalog::cache::CatalogCache;
use crate::changes::Follower;
use crate::changes::hub::Hub;
use crate::config::ServeSettings;
use crate::db::availability::Availability;
use crate::db::local::{LocalPostgres, LocalPostgresError, LocalPostgresOptions};
use crate::db::pool;
use crate::goals::cache::GoalCache;
use crate::goals::service::GoalApi;
use crate::observations::read::ReadCaches;
use crate::observations::read::selected::SeriesCache;
use crate::observations::selections::SelectionRollups;
use crate::observations::service::{MetricApi, StreamLimits};
use crate::pb::audit_service_server::AuditServiceServer;
use crate::pb::goal_service_server::GoalServiceServer;
use crate::pb::metric_service_server::MetricServiceServer;
use crate::pb::progress_service_server::ProgressServiceServer;
use crate::progress::service::ProgressApi;
use crate::snapshots::recorder;
use crate::telemetry::exporter::ScrapeSources;
use crate::telemetry::grpc_calls::CallMetricsLayer;
use crate::telemetry::scrape::{MetricsEndpoint, MetricsError};
use crate::tls::{TlsError, WithTls};

mod call_tracing;
mod health;
mod reflection;
mod severable;

use call_tracing::call_tracing;
use reflection::{reflection_v1, reflection_v1alpha};

use severable::Severable;

/// How long the server waits for cut connections to end.
const CUT_CONNECTIONS_WAIT: Duration = Duration::from_secs(5);

/// How long closing the pool waits for connections still in use.
const POOL_CLOSE_WAIT: Duration = Duration::from_secs(5);

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The private PostgreSQL instance failed.
    #[error(transparent)]
    LocalPostgres(#[from] LocalPostgresError),
    /// The database could not be reached.
    #[error("cannot connect to the database: {0}")]
    Database(#[source] sqlx::Error),
    /// A migration failed.
    #[error("cannot apply the schema migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The settings contradict each other.
    #[error("invalid settings: {0}")]
    Settings(String),
    /// Serving on the listen address without tokens would let anyone in.
    #[error(transparent)]
    Unprotected(#[from] ListenRefusal),
    /// The listen address is unusable.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address asked for.
        address: SocketAddr,
        /// Why binding failed.
        source: std::io::Error,
    },
    /// The TLS settings are unusable.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The metrics endpoint could not start.
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    /// The reflection service could not be built from the descriptors.
    #[error("cannot build the reflection service: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The gRPC server failed.
    #[error("the gRPC server failed: {0}")]
    Serve(#[from] tonic::transport::Error),
}

/// A built server: listening, connected and migrated, not yet serving.
pub struct Application {
    listener: TcpListener,
    tls: Option<ServerTlsConfig>,
    metrics_endpoint: Option<MetricsEndpoint>,
    pool: PgPool,
    hub: Hub,
    hub_task: JoinHandle<()>,
    /// Goals as GetGoal reads them, kept exact by the hub.
    goal_cache: GoalCache,
    read_caches: ReadCaches,
    record_snapshots: bool,
    local_postgres: Option<LocalPostgres>,
    stream_limits: StreamLimits,
    page_sizes: PageSizes,
    request_id_retention: Duration,
    availability: Availability,
    availability_task: JoinHandle<()>,
    shutdown_grace: Duration,
    call_timeout: Duration,
    max_concurrent_calls: usize,
    verifier: Arc<Verifier>,
}

impl Application {
    /// Binds the listener first (so port 0 works and the real port can be
    /// read back), then starts or connects to PostgreSQL and migrates it.
    pub async fn build(settings: &ServeSettings) -> Result<Self, StartupError> {
        let stream_limits = settings.stream_limits().map_err(StartupError::Settings)?;
        let page_sizes = settings.page_sizes().map_err(StartupError::Settings)?;
        let listener =
            TcpListener::bind(settings.listen)
                .await
                .map_err(|source| StartupError::Bind {
                    address: settings.listen,
                    source,
                })?;
        // Both before PostgreSQL starts: a bad file or address fails fast.
        let tls = settings.tls.server_config()?;
        let metrics_endpoint = MetricsEndpoint::bind(settings.metrics_addr).await?;

        let (database_url, local_postgres) = match settings.database_url() {
            Some(url) => (url.to_owned(), None),
            None => {
                tracing::info!(data_dir = %settings.data_dir.display(), "DATABASE_URL is not set, starting a private PostgreSQL");
                let local = LocalPostgres::start(LocalPostgresOptions {
                    data_dir: settings.data_dir.clone(),
                    ephemeral: false,
                })
                .await?;
                (local.database_url("goalpost"), Some(local))
            }
        };
        let pool = match pool::connect(
            &database_url,
            settings.db_max_connections,
            settings.call_timeout(),
        )
        .await
        {
            Ok(pool) => pool,
            Err(error) => {
                stop_local(local_postgres).await;
                return Err(StartupError::Database(error));
            }
        };
        if !settings.skip_migrations
            && let Err(error) = pool::MIGRATOR.run(&pool).await
        {
            stop_local(local_postgres).await;
            return Err(error.into());
        }
        if let Err(error) =
            check_listen_policy(&pool, settings.listen, settings.insecure_allow_anonymous).await
        {
            stop_local(local_postgres).await;
            return Err(error.into());
        }
        // The reporting schema's goal-type tables mirror the catalog of this
        // build, for BI tools.
        if let Err(error) = crate::reporting::sync_goal_types(&pool).await {
            stop_local(local_postgres).await;
            return Err(StartupError::Database(error));
        }
        // The selection registrar may wait seconds for a load's lock, and
        // the listener holds its connection for good: each gets a pool of
        // its own rather than a slot the calls share.
        let registrar_pool = match pool::connect_one(&database_url) {
            Ok(registrar_pool) => registrar_pool,
            Err(error) => {
                stop_local(local_postgres).await;
                return Err(StartupError::Database(error));
            }
        };
        let goal_cache = GoalCache::new();
        let catalog = CatalogCache::default();
        let read_caches = ReadCaches {
            series: SeriesCache::with_rollups(SelectionRollups::start(
                registrar_pool,
                catalog.clone(),
            )),
            catalog,
        };
        let started = match pool::connect_one(&database_url) {
            Ok(listener_pool) => {
                let followers: Vec<Arc<dyn Follower>> = vec![
                    Arc::new(goal_cache.clone()),
                    Arc::new(read_caches.catalog.clone()),
                ];
                Hub::start(listener_pool, followers).await
            }
            Err(error) => Err(error),
        };
        let (hub, hub_task) = match started {
            Ok(started) => started,
            Err(error) => {
                stop_local(local_postgres).await;
                return Err(StartupError::Database(error));
            }
        };
        // Whether the database answers, for health and for failing calls
        // fast during an outage.
        let (availability, availability_task) = match PgConnectOptions::from_str(&database_url) {
            Ok(options) => Availability::start(options),
            Err(error) => {
                stop_local(local_postgres).await;
                return Err(StartupError::Database(error));
            }
        };
        let verifier = Arc::new(Verifier::new(pool.clone(), settings.auth_policy()));
        Ok(Application {
            listener,
            tls,
            metrics_endpoint,
            pool,
            hub,
            hub_task,
            goal_cache,
            read_caches,
            availability,
            availability_task,
            shutdown_grace: Duration::from_secs(settings.shutdown_grace_secs),
            call_timeout: settings.call_timeout(),
            max_concurrent_calls: settings.max_concurrent_calls as usize,
            record_snapshots: settings.record_snapshots(),
            local_postgres,
            stream_limits,
            page_sizes,
            request_id_retention: settings.request_id_retention,
            verifier,
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        // A bound listener always has an address.
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// The address of the Prometheus metrics endpoint, when it is on.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_endpoint
            .as_ref()
            .and_then(MetricsEndpoint::local_addr)
    }

    /// The database pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The hub that hands announced changes to this server's watchers.
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// Serves until `shutdown` completes, then reports NOT_SERVING, drains the
    /// calls in flight, closes the pool and stops the private PostgreSQL.
    /// Meanwhile expired request ids are purged in the background.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), StartupError> {
        let Application {
            listener,
            tls,
            metrics_endpoint,
            pool,
            hub,
            hub_task,
            goal_cache,
            read_caches,
            record_snapshots,
            local_postgres,
            stream_limits,
            page_sizes,
            request_id_retention,
            availability,
            availability_task,
            shutdown_grace,
            call_timeout,
            max_concurrent_calls,
            verifier,
        } = self;
        let purger = idempotency::start_purging(pool.clone(), request_id_retention);
        // Scrapes are answered until this function returns (dropping it
        // stops the endpoint), through the drain and the shutdown.
        let _scraping = metrics_endpoint.map(|endpoint| {
            endpoint.start(ScrapeSources {
                pool: pool.clone(),
                hub: hub.clone(),
            })
        });
        let recorder = record_snapshots.then(|| recorder::start(pool.clone(), hub.clone()));
        let (health, health_service) = tonic_health::server::health_reporter();
        let health_follower = health::follow_database(health.clone(), availability.subscribe());

        let audits = AuditServiceServer::new(AuditApi::new(pool.clone(), page_sizes))
            .max_decoding_message_size(stream_limits.max_message_bytes);
        let metrics = MetricServiceServer::new(MetricApi::new(
            pool.clone(),
            stream_limits,
            page_sizes,
            read_caches.clone(),
        ))
        .max_decoding_message_size(stream_limits.max_message_bytes);
        let goals = GoalServiceServer::new(GoalApi::new(
            pool.clone(),
            goal_cache.clone(),
            read_caches.series.rollups().clone(),
            page_sizes,
        ))
        .max_decoding_message_size(stream_limits.max_message_bytes);
        let progress = ProgressServiceServer::new(ProgressApi::new(
            pool.clone(),
            hub.clone(),
            page_sizes,
            goal_cache,
            read_caches,
        ))
        .max_decoding_message_size(stream_limits.max_message_bytes);

        let stopping_hub = hub.clone();
        let (draining, drain_started) = tokio::sync::oneshot::channel::<()>();
        let cut = CancellationToken::new();
        let stopping = async move {
            shutdown.await;
            let _ = draining.send(());
            tracing::info!("shutting down: draining calls in flight");
            // Watches end with UNAVAILABLE rather than holding the drain open.
            stopping_hub.stop();
            // From now on NOT_SERVING, whatever the database does.
            health_follower.abort();
            let _ = health_follower.await;
            health::set_all(&health, tonic_health::ServingStatus::NotServing).await;
        };

        let serving = Server::builder()
            .http2_keepalive_interval(Some(Duration::from_secs(30)))
            .with_tls(tls)?
            // Outermost: calls refused by any other layer are counted too.
            .layer(CallMetricsLayer)
            .layer(call_tracing())
            .layer(MapRequestLayer::new(watch_request_body))
            .layer(MapResponseLayer::new(move |response| {
                answer_too_large_as_exhausted(response, stream_limits.max_message_bytes)
            }))
            .layer(GuardLayer::new(ConcurrencyLimit::new(max_concurrent_calls)))
            .layer(GuardLayer::new(DatabaseGate::new(availability.clone())))
            .layer(GuardLayer::new(CallBudget::new(call_timeout)))
            // Inside the tracing layer, so refused calls are logged and the
            // caller's token name lands on the call's span; inside the
            // database gate, so during a known outage calls fail at once
            // rather than wait on a token lookup, and a lookup that meets
            // an outage (UNAVAILABLE) sets the gate's monitor probing.
            .layer(AuthLayer::new(verifier))
            .add_service(health_service)
            .add_service(reflection_v1()?)
            .add_service(reflection_v1alpha()?)
            .add_service(audits)
            .add_service(metrics)
            .add_service(goals)
            .add_service(progress)
            .serve_with_incoming_shutdown(accept_without_delay(listener, &cut), stopping);
        // The drain is bounded: a client streaming on and on, or a call
        // stuck on the database, cannot keep the server from stopping.
        let grace_over = async {
            if drain_started.await.is_err() {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(shutdown_grace).await;
        };
        tokio::pin!(serving);
        let result = tokio::select! {
            result = &mut serving => result,
            () = grace_over => {
                tracing::warn!(
                    grace_secs = shutdown_grace.as_secs_f64(),
                    "calls still running after the shutdown grace period are cut off"
                );
                cut.cancel();
                match tokio::time::timeout(CUT_CONNECTIONS_WAIT, &mut serving).await {
                    Ok(result) => result,
                    Err(_) => Ok(()),
                }
            }
        };

        purger.stop().await;
        availability.stop();
        let _ = availability_task.await;
        hub.stop();
        if let Some(recorder) = recorder {
            let _ = recorder.await;
        }
        let _ = hub_task.await;
        // Calls cut off at the end of the grace period may still hold
        // connections for a moment; closing waits for them only so long.
        let _ = tokio::time::timeout(POOL_CLOSE_WAIT, pool.close()).await;
        stop_local(local_postgres).await;
        tracing::info!("stopped");
        Ok(result?)
    }
}

/// The listener's connections with Nagle's algorithm off. tonic sets
/// `TCP_NODELAY` only on sockets it accepts itself; on ours, a response of
/// several TCP segments would wait for the client's delayed ACK, adding
/// about 40 ms to calls such as a page of 1,000 observations.
/// Each is [severable](severable) by `cut`.
fn accept_without_delay(
    listener: TcpListener,
    cut: &CancellationToken,
) -> impl tokio_stream::Stream<Item = std::io::Result<Severable>> + use<> {
    let cut = cut.clone();
    TcpListenerStream::new(listener).map(move |accepted| {
        let stream = accepted?;
        stream.set_nodelay(true)?;
        Ok(Severable::new(stream, &cut))
    })
}

async fn stop_local(local_postgres: Option<LocalPostgres>) {
    if let Some(local) = local_postgres
        && let Err(error) = local.stop().await
    {
        tracing::error!(%error, "the private PostgreSQL did not stop cleanly");
    }
}
