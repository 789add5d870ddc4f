//! The `goalpost` binary: parse the command line, set up logging, run.

use std::process::ExitCode;

use clap::Parser;
use goalpost::app::Application;
use goalpost::config::{BiArgs, BiCommand, Cli, Command, ServeSettings};
use goalpost::telemetry;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.log_format);
    let result = match cli.command {
        Command::Serve(settings) => serve(settings).await.map_err(|error| error.to_string()),
        Command::Bi(BiArgs {
            command: BiCommand::Grant(settings),
        }) => goalpost::reporting::grant(&settings)
            .await
            .map_err(|error| error.to_string()),
        Command::Token(args) => goalpost::auth::cli::run(args)
            .await
            .map_err(|error| error.to_string()),
        Command::Demo(settings) => goalpost::demo::run(&settings)
            .await
            .map_err(|error| error.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: ServeSettings) -> Result<(), goalpost::app::StartupError> {
    let app = Application::build(&settings).await?;
    tracing::info!(address = %app.local_addr(), tls = settings.tls.mode(), "goalpost is serving gRPC");
    if let Some(address) = app.metrics_addr() {
        tracing::info!(%address, "goalpost is serving Prometheus metrics at /metrics");
    }
    app.run_until_stopped(shutdown_signal()).await
}

/// Completes on SIGINT or SIGTERM (a plain ctrl_c would miss SIGTERM, which
/// is what process managers and containers send).
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = match signal(SignalKind::terminate()) {
        Ok(terminate) => terminate,
        Err(error) => {
            tracing::error!(%error, "cannot listen for SIGTERM");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}
