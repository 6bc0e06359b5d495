//! The notification client end to end (R15), through the real binaries
//! over QUIC on loopback: `assent-host run` takes notifications on its
//! socket and drop directory, keeps them in its book, and delivers them to
//! `assent-relay`, where `assent-relay notifications list|watch` shows them.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use support::lab::{Lab, Proc};

const PUMP: &str = r#"{"id":"pump-pressure","severity":"error","kind":"failure","title":"Pump pressure low","detail":"12 bar"}"#;
const DOOR: &str = r#"{"id":"door-open","source":"instrument","severity":"warning","kind":"configuration_problem","title":"Reagent door open"}"#;
const PATIENCE: Duration = Duration::from_secs(90);

fn host_dir(lab: &Lab) -> PathBuf {
    lab.path("host")
}

/// `assent-host run` with fast test hooks; waits until it serves its intake.
fn start_run(lab: &Lab, extra: &[&str]) -> Proc {
    let mut command = Command::new(&lab.host_binary);
    command
        .arg("--data-dir")
        .arg(host_dir(lab))
        .args([
            "run",
            "--check-interval-ms",
            "200",
            "--reconnect-max-ms",
            "500",
        ])
        .args(extra)
        .env_remove("DISPLAY");
    let run = Proc::spawn("assent-host run", &mut command);
    run.wait_for("notification intake:");
    run
}

/// Sends each line on the intake socket; returns the answers.
fn notify(lab: &Lab, lines: &[&str]) -> Vec<String> {
    let stream = UnixStream::connect(host_dir(lab).join("notify.sock")).expect("intake socket");
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut answers = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    lines
        .iter()
        .map(|line| {
            writer.write_all(line.as_bytes()).unwrap();
            writer.write_all(b"\n").unwrap();
            let mut answer = String::new();
            answers.read_line(&mut answer).unwrap();
            answer.trim_end().to_owned()
        })
        .collect()
}

/// Drops one notification file the way a writer should: rename into place.
fn drop_file(lab: &Lab, name: &str, content: &[u8]) {
    let dir = host_dir(lab).join("notify.d");
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, content).unwrap();
    std::fs::rename(&tmp, dir.join(name)).unwrap();
}

fn output(command: &mut Command) -> String {
    let out = command.output().expect("run a program");
    assert!(
        out.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `assent-relay notifications list --host ID`.
fn relay_list(lab: &Lab) -> String {
    output(
        Command::new(lab.bin("assent-relay"))
            .arg("--data-dir")
            .arg(lab.path("relay"))
            .args(["notifications", "list", "--host", &lab.host_id])
            .env_remove("ASSENT_RELAY_DATA_KEY"),
    )
}

/// `assent-host notifications ARGS`.
fn host_cli(lab: &Lab, args: &[&str]) -> String {
    output(
        Command::new(&lab.host_binary)
            .arg("--data-dir")
            .arg(host_dir(lab))
            .arg("notifications")
            .args(args),
    )
}

/// Waits until `check` holds for what `read` returns; returns that.
fn eventually(
    what: &str,
    mut read: impl FnMut() -> String,
    check: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let text = read();
        if check(&text) {
            return text;
        }
        assert!(Instant::now() < deadline, "never saw {what}; last:\n{text}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The `active` lines of one notification ID at the relay.
fn active_at_relay(list: &str, id: &str) -> Vec<String> {
    let needle = format!(" id={id} ");
    list.lines()
        .filter(|l| l.starts_with("active") && l.contains(&needle))
        .map(str::to_owned)
        .collect()
}

#[test]
fn notifications_from_the_socket_and_the_drop_directory_reach_the_relay_and_the_cli() {
    let lab = support::lab("DxH 900");
    let run = start_run(&lab, &[]);
    run.wait_for("online as");

    assert_eq!(notify(&lab, &[PUMP]), ["ok"]);
    drop_file(&lab, "door.json", DOOR.as_bytes());

    let list = eventually(
        "both notifications at the relay",
        || relay_list(&lab),
        |list| {
            !active_at_relay(list, "pump-pressure").is_empty()
                && !active_at_relay(list, "door-open").is_empty()
        },
    );
    let pump = active_at_relay(&list, "pump-pressure");
    assert_eq!(pump.len(), 1, "{list}");
    assert!(
        pump[0].contains("Pump pressure low") && pump[0].contains("severity=error"),
        "{list}"
    );
    assert!(
        active_at_relay(&list, "door-open")[0].contains("Reagent door open"),
        "{list}"
    );
    assert!(
        !host_dir(&lab).join("notify.d/door.json").exists(),
        "a taken file is removed"
    );

    // The technician sees both, on run's terminal and in the CLI.
    run.wait_for("notification [error] Pump pressure low (pump-pressure)");
    run.wait_for("notification [warning] Reagent door open (door-open)");
    let shown = host_cli(&lab, &[]);
    assert!(
        shown.contains("[error] Pump pressure low (pump-pressure)"),
        "{shown}"
    );
    assert!(
        shown.contains("[warning] Reagent door open (door-open)"),
        "{shown}"
    );

    // A clear reaches the relay too; the other notification stays.
    assert_eq!(
        notify(&lab, &[r#"{"id":"pump-pressure","clear":true}"#]),
        ["ok"]
    );
    let list = eventually(
        "the clear at the relay",
        || relay_list(&lab),
        |list| active_at_relay(list, "pump-pressure").is_empty(),
    );
    assert_eq!(active_at_relay(&list, "door-open").len(), 1, "{list}");
    assert_eq!(active_ids(&lab), ["door-open"]);
    let all = host_cli(&lab, &["--all"]);
    assert!(
        all.contains("recently cleared:\n  pump-pressure (cleared"),
        "{all}"
    );
}

#[test]
fn garbage_on_the_intake_is_refused_with_a_reason_and_counted() {
    let lab = support::lab("DxH 900");
    let run = start_run(&lab, &[]);
    let huge = format!("{{\"id\":\"x\",\"title\":\"{}\"}}", "A".repeat(40_000));
    let answers = notify(
        &lab,
        &[
            "this is not json",
            r#"{"id":"p","severity":"error","kind":"failure","title":"T","colour":"red"}"#,
            &huge,
            r#"{"id":"assent.clock-skew","clear":true}"#,
            PUMP,
        ],
    );
    assert!(
        answers[..4].iter().all(|a| a.starts_with("error: ")),
        "{answers:?}"
    );
    assert!(answers[1].contains("colour"), "{answers:?}");
    assert!(answers[2].contains("limit"), "{answers:?}");
    assert_eq!(answers[4], "ok", "the intake goes on after garbage");
    drop_file(&lab, "garbage.json", b"\x00\xff not json");

    let rejected = host_dir(&lab).join("notify.d/rejected");
    let reason = eventually(
        "the refused file set aside",
        || std::fs::read_to_string(rejected.join("garbage.json.reason")).unwrap_or_default(),
        |r| !r.is_empty(),
    );
    assert!(reason.contains("not valid JSON"), "{reason}");
    assert!(rejected.join("garbage.json").exists());

    let stats = eventually(
        "the refusals counted",
        || stats(&lab),
        |s| s.contains("intake drop directory: 0 accepted, 1 refused"),
    );
    assert!(
        stats.contains("intake socket: 1 accepted, 4 refused"),
        "{stats}"
    );
    assert!(
        run.stderr_text().contains("notification refused"),
        "refusals are logged"
    );
}

#[test]
fn notifications_made_while_the_relay_is_down_arrive_once_in_order_and_survive_a_restart() {
    let mut lab = support::lab("DxH 900");
    lab.relay.kill();
    let run = start_run(
        &lab,
        &["--relay-unreachable-secs", "1", "--disk-low-mib", "0"],
    );
    let lines: Vec<String> = (1..=5)
        .map(|i| {
            PUMP.replace("pump-pressure", &format!("queued-{i}"))
                .replace("Pump pressure low", &format!("Queued {i}"))
        })
        .collect();
    let mut requests: Vec<&str> = lines.iter().map(String::as_str).collect();
    requests.push(r#"{"id":"queued-3","clear":true}"#);
    assert!(
        notify(&lab, &requests).iter().all(|a| a == "ok"),
        "the intake works with the relay down"
    );
    eventually(
        "relay unreachable raised",
        || host_cli(&lab, &[]),
        |s| s.contains("assent.relay-unreachable"),
    );

    // Follow the relay's notification log from before it comes back.
    let mut watch = Command::new(lab.bin("assent-relay"));
    watch
        .arg("--data-dir")
        .arg(lab.path("relay"))
        .args(["notifications", "watch", "--host", &lab.host_id])
        .env_remove("ASSENT_RELAY_DATA_KEY");
    let watch = Proc::spawn("assent-relay notifications watch", &mut watch);
    lab.restart_relay().unwrap();
    // The clear of "relay unreachable" is the last report made.
    eventually(
        "every report delivered",
        || events(&watch).join("\n"),
        |events| events.ends_with("cleared assent.relay-unreachable"),
    );
    assert!(stats(&lab).contains("reports waiting for the relay: 0"));
    let expected = reports_in_book_order(&run);
    let arrived = events(&watch);
    assert_eq!(
        arrived, expected,
        "the relay got every report once, in the host's order"
    );
    assert!(
        expected.contains(&"raised assent.relay-unreachable".to_owned()),
        "{expected:?}"
    );
    assert!(
        expected.ends_with(&["cleared assent.relay-unreachable".to_owned()]),
        "{expected:?}"
    );

    // The host restarts: its active notifications are still there, and
    // nothing is delivered twice.
    drop(run);
    assert_eq!(
        active_ids(&lab),
        ["queued-1", "queued-2", "queued-4", "queued-5"]
    );
    let run = start_run(&lab, &["--disk-low-mib", "0"]);
    run.wait_for("4 active notification(s), 0 report(s) waiting");
    run.wait_for("online as");
    assert_eq!(notify(&lab, &[DOOR]), ["ok"]);
    watch.wait_for("id=door-open");
    let mut expected = expected;
    expected.push("raised door-open".into());
    assert_eq!(events(&watch), expected);
    assert_eq!(
        active_ids(&lab),
        ["queued-1", "queued-2", "queued-4", "queued-5", "door-open"]
    );
}

#[test]
fn a_host_whose_book_started_again_below_the_relays_numbering_still_delivers() {
    let lab = support::lab("DxH 900");
    let run = start_run(&lab, &["--disk-low-mib", "0"]);
    assert_eq!(notify(&lab, &[PUMP]), ["ok"]);
    eventually(
        "the first notification at the relay",
        || relay_list(&lab),
        |list| active_at_relay(list, "pump-pressure").len() == 1,
    );
    drop(run);
    // The book is lost and the old numbering is ahead of the clock (the
    // clock was set back): new reports would number at or below the last
    // one the relay stored.
    std::fs::remove_file(host_dir(&lab).join("notifications.json")).unwrap();
    support::relay_sql(
        &lab,
        "UPDATE notification_hosts SET last_seq = last_seq + 1000000000000000000;",
    );

    let run = start_run(&lab, &["--disk-low-mib", "0"]);
    run.wait_for("online as");
    assert_eq!(notify(&lab, &[DOOR]), ["ok"]);
    eventually(
        "the new notification at the relay, not dropped as a repeat",
        || relay_list(&lab),
        |list| active_at_relay(list, "door-open").len() == 1,
    );
    assert!(stats(&lab).contains("reports waiting for the relay: 0"));
}

#[test]
fn assents_own_checks_raise_notifications_that_reach_the_relay() {
    let lab = support::lab("DxH 900");
    // Thresholds no machine meets: every check finds its problem.
    let run = start_run(
        &lab,
        &[
            "--disk-low-mib",
            "1000000000",
            "--certificate-warning-days",
            "10000000",
            "--display",
            ":4321",
        ],
    );
    run.wait_for("online as");
    let list = eventually(
        "the own checks at the relay",
        || relay_list(&lab),
        |list| {
            [
                "assent.disk-space-low",
                "assent.relay-certificate-expiry",
                "assent.screen-capture-failing",
            ]
            .iter()
            .all(|id| !active_at_relay(list, id).is_empty())
        },
    );
    assert!(
        active_at_relay(&list, "assent.disk-space-low")[0].contains("source=assent"),
        "{list}"
    );
    assert!(
        active_at_relay(&list, "assent.relay-unreachable").is_empty(),
        "the relay was reachable"
    );
    run.wait_for("notification [warning] Disk space low (assent.disk-space-low)");
}

/// `raised ID` / `cleared ID` for each report `assent-host run` printed.
fn reports_in_book_order(run: &Proc) -> Vec<String> {
    run.lines()
        .iter()
        .filter_map(|line| {
            if let Some(rest) = line.strip_prefix("notification cleared (") {
                return Some(format!("cleared {}", rest.trim_end_matches(')')));
            }
            let rest = line.strip_prefix("notification [")?;
            let id = rest.rsplit_once(" (")?.1.trim_end_matches(')');
            Some(format!("raised {id}"))
        })
        .collect()
}

/// `raised ID` / `cleared ID` for each event `notifications watch` printed.
fn events(watch: &Proc) -> Vec<String> {
    watch
        .lines()
        .iter()
        .filter_map(|line| {
            let (kind, rest) = line.split_once(' ')?;
            if kind != "raised" && kind != "cleared" {
                return None;
            }
            let id = rest
                .split_whitespace()
                .find_map(|field| field.strip_prefix("id="))?;
            Some(format!("{kind} {id}"))
        })
        .collect()
}

/// The IDs `assent-host notifications` lists as active, in its order.
fn active_ids(lab: &Lab) -> Vec<String> {
    host_cli(lab, &[])
        .lines()
        .filter(|line| line.starts_with('['))
        .filter_map(|line| Some(line.rsplit_once(" (")?.1.trim_end_matches(')').to_owned()))
        .collect()
}

/// `--stats` with its runs of spaces squeezed.
fn stats(lab: &Lab) -> String {
    host_cli(lab, &["--stats"])
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn the_engineer_sees_the_hosts_active_notifications_and_their_changes_in_a_session() {
    let lab = support::lab("DxH 900");
    let _run = start_run(&lab, &[]);
    assert_eq!(notify(&lab, &[PUMP]), ["ok"]);
    let (mut host, password) = lab.support(&[]);
    let mut viewer = lab.viewer(
        &password,
        &["--request", "screen", "--duration", "8", "--notifications"],
    );
    support::lab::admit_engineer(&mut host);
    support::lab::answer(&mut host, "asks for SCREEN VIEW", "y");
    // Active before the session: sent when the viewer opens the channel.
    viewer.wait_for("notification [ERROR] Pump pressure low — 12 bar (instrument_software, failure, id pump-pressure)");
    // Raised and cleared during the session: sent as they happen.
    assert_eq!(notify(&lab, &[DOOR]), ["ok"]);
    viewer.wait_for("notification [WARNING] Reagent door open (instrument, configuration_problem, id door-open)");
    assert_eq!(
        notify(&lab, &[r#"{"id":"pump-pressure","clear":true}"#]),
        ["ok"]
    );
    viewer.wait_for("notification cleared: pump-pressure");
    assert!(viewer.wait_exit().success(), "{}", viewer.stderr_text());
    let active: Vec<_> = viewer
        .lines()
        .into_iter()
        .filter(|l| l.starts_with("active notification"))
        .collect();
    assert_eq!(
        active,
        ["active notification [WARNING] Reagent door open (instrument, configuration_problem, id door-open)"],
        "{}",
        viewer.stdout_text()
    );
    viewer.wait_for("notifications: 1 active");
}
