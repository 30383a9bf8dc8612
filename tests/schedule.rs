//! Scheduled triggers (issue 23): porch runs an app's declared jobs on
//! time, never two of one at once, runs a job missed while it was down
//! once at start, contains a job that loops, and never lets a visitor pose
//! as the scheduler.

use std::path::Path;
use std::time::Duration;

use crate::util::{Browser, OWNER, Porch};

/// hello's component under `id`, with its "stretch" job on `at`.
fn hello_on(id: &str, at: &str) -> String {
    format!(
        "id = \"{id}\"\nname = \"Ticker\"\nversion = \"1.0.0\"\ncomponent = \"{id}.wasm\"\nroles = [\"visitor\"]\n\
         [capabilities]\nkv = {{ quota = \"1MiB\" }}\n[schedule]\nstretch = {{ at = \"{at}\", path = \"/.jobs/stretch\" }}\n"
    )
}

/// Packs `component` as `manifest` says and installs it; the package.
fn install(porch: &Porch, component: &str, id: &str, manifest: &str) -> std::path::PathBuf {
    let key = porch.author_key(&format!("{id}-author"));
    let dir = porch.app_variant(component, id, manifest);
    let package = porch.pack(&dir, &key);
    let out = porch.install_package(&package);
    assert!(out.success, "{}", out.stderr);
    package
}

/// How many times the app `id` (hello's component) says its job ran.
async fn jobs(owner: &Browser, id: &str) -> u32 {
    let page = owner.follow(&owner.app_url(id, "/")).await;
    let text = crate::util::between(&page.body, "hourly job ", " time").unwrap_or_else(|| panic!("{}", page.body));
    text.parse().expect("a count")
}

#[tokio::test]
async fn jobs_run_on_time_and_one_missed_while_down_runs_once_at_start() {
    let mut porch = Porch::start();
    let owner = porch.owner().await;
    let ticker = install(&porch, "hello", "ticker", &hello_on("ticker", "*/1 * * * * *"));
    install(&porch, "hello", "sleeper", &hello_on("sleeper", "0 3 * * *"));
    porch.grant(OWNER, "ticker:visitor");
    porch.grant(OWNER, "sleeper:visitor");
    let shown = porch.cli(&["app", "inspect", ticker.to_str().expect("path")]);
    assert!(shown.stdout.contains("schedule: porch runs its \"stretch\" job at */1 * * * * *"), "{}", shown.stdout);

    // Every second: after a few, it has run a few times.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let ran = jobs(&owner, "ticker").await;
    assert!((2..=6).contains(&ran), "ran {ran} times in about 4 s");
    assert_eq!(jobs(&owner, "sleeper").await, 0, "03:00 daily has not come");

    // porch is down for three days (as far as the job knows): the missed
    // run happens once when it starts, not once per missed day.
    porch.restart_after(|data: &Path| {
        let db = data.join("porch.sqlite");
        // Its own thread and runtime: this test's runtime is busy awaiting.
        std::thread::scope(|s| {
            s.spawn(|| {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
                rt.block_on(async {
                    use sqlx::Connection;
                    let url = format!("sqlite://{}", db.display());
                    let mut conn = sqlx::SqliteConnection::connect(&url).await.expect("open db");
                    let three_days_ago = porch::common::clock::now() - 3 * 86_400;
                    let done = sqlx::query("UPDATE app_triggers SET last_run = ? WHERE app_id = 'sleeper'")
                        .bind(three_days_ago)
                        .execute(&mut conn)
                        .await
                        .expect("update");
                    assert_eq!(done.rows_affected(), 1, "the sleeper's job is recorded");
                    conn.close().await.expect("close");
                });
            });
        });
    });
    let mut ran = 0;
    for _ in 0..50 {
        ran = jobs(&owner, "sleeper").await;
        if ran > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(ran, 1, "the missed run ran at start");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(jobs(&owner, "sleeper").await, 1, "once");
}

#[tokio::test]
async fn a_job_that_loops_is_stopped_and_nobody_can_pose_as_the_scheduler() {
    let porch = Porch::start();
    let owner = porch.owner().await;
    // The hostile app's /loop never returns; its job runs every second.
    let looper = "id = \"looper\"\nname = \"Looper\"\nversion = \"1.0.0\"\ncomponent = \"looper.wasm\"\nroles = [\"victim\"]\n\
                  [capabilities]\nkv = { quota = \"64KiB\" }\nblobs = { quota = \"1MiB\" }\npeople = true\nmedia = true\n\
                  [limits]\ntime = \"1s\"\n[schedule]\nspin = { at = \"*/1 * * * * *\", path = \"/loop\" }\n";
    install(&porch, "hostile", "looper", looper);
    porch.grant(OWNER, "hello:visitor");
    tokio::time::sleep(Duration::from_secs(4)).await;
    // Each run was stopped at the app's time limit, the others kept
    // answering, and the failure was audited once, not at every run.
    let started = std::time::Instant::now();
    let page = owner.follow(&owner.app_url("hello", "/")).await;
    assert_eq!(page.status, 200);
    assert!(started.elapsed() < Duration::from_secs(2), "hello answered while the job looped");
    let audit = porch.audit();
    let failures = audit.lines().filter(|l| l.contains("app.trigger_failed") && l.contains("looper")).count();
    assert_eq!(failures, 1, "{audit}");
    assert!(audit.contains("the \"spin\" job"), "{audit}");

    // A visitor's porch-trigger header never reaches an app.
    assert!(porch.install("echo").success);
    porch.grant(OWNER, "echo:viewer");
    let url = owner.app_url("echo", "/");
    owner.follow(&url).await;
    let echoed = owner.get_with_headers(&url, &[("porch-trigger", "spin")]).await;
    assert_eq!(echoed.status, 200);
    assert!(!echoed.body.to_lowercase().contains("porch-trigger"), "{}", echoed.body);
}
