//! Running for years: backups (round trip, incremental, damage found,
//! scheduled), a SIGKILL in the middle of concurrent writes, a full disk,
//! an upgrade from an older schema, refusing a newer one, the data-folder
//! lock, the systemd unit, and the metrics listener.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use sqlx::{Connection, Row};

use crate::photos::{app, enter, jpeg, new_album, upload};
use crate::util::{OWNER, PASSWORD, Porch, have_tool, in_ci};

/// Every row of every table, as text, by table name.
async fn tables(db: &Path) -> BTreeMap<String, Vec<String>> {
    let options =
        sqlx::sqlite::SqliteConnectOptions::from_str("sqlite://").expect("options").filename(db).read_only(true);
    let mut conn = sqlx::SqliteConnection::connect_with(&options).await.expect("open db");
    let names: Vec<String> = sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .fetch_all(&mut conn)
        .await
        .expect("tables");
    let mut out = BTreeMap::new();
    for name in names {
        let columns: Vec<String> = sqlx::query(&format!("PRAGMA table_info(\"{name}\")"))
            .fetch_all(&mut conn)
            .await
            .expect("columns")
            .iter()
            .map(|r| r.get::<String, _>("name"))
            .collect();
        let row = columns.iter().map(|c| format!("quote(\"{c}\")")).collect::<Vec<_>>().join(" || '|' || ");
        let rows: Vec<String> = sqlx::query_scalar(&format!("SELECT {row} FROM \"{name}\" ORDER BY 1"))
            .fetch_all(&mut conn)
            .await
            .expect("rows");
        out.insert(name, rows);
    }
    conn.close().await.expect("close");
    out
}

async fn integrity(db: &Path) -> String {
    let options = sqlx::sqlite::SqliteConnectOptions::from_str("sqlite://").expect("options").filename(db);
    let mut conn = sqlx::SqliteConnection::connect_with(&options).await.expect("open db");
    let result: String = sqlx::query_scalar("PRAGMA integrity_check").fetch_one(&mut conn).await.expect("check");
    conn.close().await.expect("close");
    result
}

/// Every blob file under a data folder: relative path → SHA-256 of its bytes.
fn blob_files(data: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let blobs = data.join("blobs");
    for dir in std::fs::read_dir(&blobs).expect("blobs").flatten() {
        if dir.file_name() == "tmp" {
            continue;
        }
        for file in std::fs::read_dir(dir.path()).expect("dir").flatten() {
            let bytes = std::fs::read(file.path()).expect("read");
            let rel = file.path().strip_prefix(data).expect("rel").display().to_string();
            out.insert(rel, hex::encode(Sha256::digest(&bytes)));
        }
    }
    out
}

fn run_porch(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_porch")).args(args).env("RUST_LOG", "warn").output().expect("run porch");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[tokio::test]
async fn backup_wipe_restore_round_trip_is_byte_identical_and_finds_damage() {
    let porch = Porch::start();
    let owner = porch.owner().await;
    enter(&owner).await;
    let album = new_album(&owner, "Summer").await;
    let mut photos = Vec::new();
    for i in 0..3u8 {
        let bytes = jpeg(320, 240, 40 * i);
        let (status, reply) = upload(&owner, &album, &format!("p{i}.jpg"), bytes.clone()).await;
        assert_eq!(status, 200, "{reply}");
        photos.push((reply["id"].as_str().expect("id").to_owned(), bytes));
    }
    porch.invite(&["--note", "for Grandma"]);
    let backups = porch.dir().join("backups");
    let dest = path_str(&backups);

    // While serving: a first backup copies every blob, a second none.
    let first = porch.cli(&["backup", dest]);
    assert!(first.success, "backup: {}", first.stderr);
    let second = porch.cli(&["backup", dest]);
    assert!(second.success, "backup: {}", second.stderr);
    assert!(second.stdout.contains(" blob files, 0 new ("), "unchanged blobs are not copied again: {}", second.stdout);
    let verify = porch.cli(&["backup", "--verify", dest]);
    assert!(verify.success && verify.stdout.contains("All 2 snapshot(s) match"), "{}{}", verify.stdout, verify.stderr);

    // A restore onto the folder porch is serving is refused, even forced.
    let busy = porch.cli(&["restore", dest, "--force"]);
    assert!(!busy.success && busy.stderr.contains("is serving from"), "{}", busy.stderr);

    let mut porch = porch;
    assert!(porch.stop().success());
    let live_tables = tables(&porch.data().join("porch.sqlite")).await;
    let live_blobs = blob_files(&porch.data());
    assert!(live_blobs.len() >= 6, "originals and thumbnails: {live_blobs:?}");

    // Wipe: a new box. Restore into its empty data folder.
    let new_box = tempfile::TempDir::new().expect("tmp");
    let data = new_box.path().join("data");
    let (ok, out, err) = run_porch(&["restore", dest, "--data", path_str(&data)]);
    assert!(ok, "restore: {out}{err}");
    assert_eq!(blob_files(&data), live_blobs, "blob files are byte-identical");
    assert_eq!(tables(&data.join("porch.sqlite")).await, live_tables, "every table is equal");

    // A second restore onto it needs --force, and moves the old one aside.
    let (ok, _, err) = run_porch(&["restore", dest, "--data", path_str(&data)]);
    assert!(!ok && err.contains("is not empty") && err.contains("--force"), "{err}");
    let (ok, out, err) = run_porch(&["restore", dest, "--data", path_str(&data), "--force"]);
    assert!(ok && out.contains("Moved the previous contents"), "{out}{err}");

    // The restored box serves the same album to the same owner.
    let restored = Porch::start_in(new_box);
    let b = restored.browser();
    assert_eq!(b.sign_in(OWNER, PASSWORD).await.status, 303, "the owner signs in on the restored box");
    enter(&b).await;
    for (id, bytes) in &photos {
        let got = b.get_bytes(&app(&b, &format!("/a/{album}/p/{id}/original"))).await;
        assert_eq!(&got, bytes, "photo {id} came back whole");
    }

    // Damage in the backup folder is found and never restored.
    let (rel, _) = live_blobs.iter().next().expect("a blob");
    let damaged = backups.join(rel);
    let mut bytes = std::fs::read(&damaged).expect("read");
    bytes[10] ^= 0xff;
    std::fs::write(&damaged, bytes).expect("write");
    let verify = porch.cli(&["backup", "--verify", dest]);
    assert!(!verify.success && verify.stdout.contains("is damaged"), "{}", verify.stdout);
    let elsewhere = tempfile::TempDir::new().expect("tmp");
    let (ok, _, err) = run_porch(&["restore", dest, "--data", path_str(&elsewhere.path().join("d"))]);
    assert!(!ok && err.contains("failed its check"), "{err}");
}

#[tokio::test]
async fn a_backup_folder_is_never_someone_elses_folder() {
    let porch = Porch::start();
    let folder = porch.dir().join("documents");
    std::fs::create_dir_all(&folder).expect("mkdir");
    std::fs::write(folder.join("thesis.odt"), b"precious").expect("write");
    let out = porch.cli(&["backup", path_str(&folder)]);
    assert!(!out.success && out.stderr.contains("not a porch backup folder"), "{}", out.stderr);
    assert_eq!(std::fs::read_dir(&folder).expect("dir").count(), 1, "nothing was written there");
}

#[tokio::test]
async fn scheduled_backups_run_prune_show_on_the_admin_page_and_audit_failures() {
    let outer = tempfile::TempDir::new().expect("tmp");
    let to = outer.path().join("usb");
    let config = format!("[backup]\nto = \"{}\"\nevery = \"1s\"\nkeep = 2\n", to.display());
    let porch = Porch::start_with_config(&config, "127.0.0.1:0");
    assert!(porch.stdout.iter().any(|l| l.starts_with("Backups: every 1s")), "{:?}", porch.stdout);
    let owner = porch.owner().await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let made = porch.audit().matches("backup.made").count();
        if made >= 3 {
            break;
        }
        assert!(Instant::now() < deadline, "three scheduled backups within a minute: {}", porch.audit());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let snapshots = std::fs::read_dir(to.join("snapshots")).expect("snapshots").count();
    assert!(snapshots <= 3, "keep = 2 (one more may be finishing): {snapshots}");
    let page = owner.get("/admin/backups").await;
    assert!(page.body.contains("Last good backup"), "{}", page.body);

    // A destination that cannot be written: failure audited and shown.
    let blocked = outer.path().join("a-file");
    std::fs::write(&blocked, b"not a folder").expect("write");
    let config = format!("[backup]\nto = \"{}\"\nevery = \"1s\"\n", blocked.join("backups").display());
    let failing = Porch::start_with_config(&config, "127.0.0.1:0");
    let owner = failing.owner().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !failing.audit().contains("backup.failed") {
        assert!(Instant::now() < deadline, "a failed backup is audited: {}", failing.audit());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let page = owner.get("/admin/backups").await;
    assert!(page.body.contains("id=\"backup-error\""), "{}", page.body);
}

/// What the clients saw succeed before the kill.
#[derive(Default)]
struct Acked {
    uploads: Vec<(String, String, Vec<u8>)>,
    albums: Vec<String>,
    joined: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_during_uploads_kv_writes_and_redemptions_loses_nothing_acknowledged() {
    let loose = "[limits]\nrequests = \"off\"\ndoor = \"off\"\nuploads = \"off\"\n";
    let mut porch = Porch::start_with_config(loose, "127.0.0.1:0");
    let owner = porch.owner().await;
    enter(&owner).await;
    let album = new_album(&owner, "Crash test").await;
    let link = porch.invite(&["--uses", "1000", "--app", "photos:viewer"]);
    let mut acked = Acked::default();
    let mut seed = 7u32;
    for round in 0..3u32 {
        let writers = tokio::task::JoinSet::new();
        let mut writers = writers;
        let finished: std::sync::Arc<[std::sync::atomic::AtomicUsize; 3]> = std::sync::Arc::default();
        for i in 0..100u32 {
            let (b, album, link) = (owner.clone(), album.clone(), link.clone());
            let url = porch.url.clone();
            let finished = finished.clone();
            writers.spawn(async move {
                // Spread over 1.5 s, so every kind is in flight at the kill.
                tokio::time::sleep(Duration::from_millis(u64::from(i * 37 % 100) * 15)).await;
                let done = match i % 3 {
                    0 => {
                        let bytes = jpeg(640, 480, (round * 100 + i) as u8);
                        let url = app(&b, &format!("/a/{album}/upload?name=r{round}-{i}.jpg"));
                        let page = b.try_post_bytes(&url, bytes.clone()).await?;
                        let reply: serde_json::Value = serde_json::from_str(&page.body).ok()?;
                        let id = reply["id"].as_str().map(str::to_owned);
                        (page.status == 200).then_some(0).and(id).map(|id| (0, id, bytes))
                    }
                    1 => {
                        let title = format!("Album {round}-{i}");
                        let page = b.try_post_from(&app(&b, "/albums"), &[("title", &title)], &app(&b, "")).await?;
                        (page.status == 303).then(|| (1, title, Vec::new()))
                    }
                    _ => {
                        let newcomer = crate::util::Browser::new(&url, "test");
                        let name = format!("Cousin {round}-{i}");
                        let page = newcomer.try_join(&link, &name, PASSWORD).await?;
                        (page.status == 303).then(|| (2, name, Vec::new()))
                    }
                };
                if done.is_some() {
                    finished[(i % 3) as usize].fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
                done
            });
        }
        // Kill at a pseudo-random moment while the writes are in flight
        // (and after two of each kind have finished, however slow the machine).
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        tokio::time::sleep(Duration::from_millis(300 + u64::from(seed % 600))).await;
        let patience = Instant::now() + Duration::from_secs(30);
        let started = |k: usize| finished[k].load(std::sync::atomic::Ordering::SeqCst) >= 2;
        while !(started(0) && started(1) && started(2)) && Instant::now() < patience {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        porch.crash_and_restart();
        while let Some(done) = writers.join_next().await {
            match done {
                Ok(Some((0, id, bytes))) => acked.uploads.push((album.clone(), id, bytes)),
                Err(e) => panic!("a writer failed: {e}"),
                Ok(Some((1, title, _))) => acked.albums.push(title),
                Ok(Some((_, name, _))) => acked.joined.push(name),
                _ => {}
            }
        }

        eprintln!(
            "crash round {round}: acknowledged so far {} uploads, {} albums, {} joins",
            acked.uploads.len(),
            acked.albums.len(),
            acked.joined.len()
        );
        // After the restart: a sound database, no temp files, no row
        // pointing at a missing or half-written file.
        let data = porch.data();
        assert_eq!(integrity(&data.join("porch.sqlite")).await, "ok", "round {round}");
        let temps: Vec<_> = std::fs::read_dir(data.join("blobs/tmp")).expect("tmp").collect();
        assert!(temps.is_empty(), "round {round}: orphan temp files are cleaned at start-up: {temps:?}");
        let files = blob_files(&data);
        let options = sqlx::sqlite::SqliteConnectOptions::from_str("sqlite://")
            .expect("options")
            .filename(data.join("porch.sqlite"))
            .read_only(true);
        let mut conn = sqlx::SqliteConnection::connect_with(&options).await.expect("db");
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT sha256, size FROM app_blobs").fetch_all(&mut conn).await.expect("rows");
        conn.close().await.expect("close");
        for (sha, size) in rows {
            let rel = format!("blobs/{}/{sha}", &sha[..2]);
            assert_eq!(files.get(&rel), Some(&sha), "round {round}: blob row {sha} has its whole file");
            assert_eq!(std::fs::metadata(data.join(&rel)).expect("meta").len(), size as u64);
        }
    }

    // Everything acknowledged survived: photos byte for byte, albums, people.
    let owner = porch.browser();
    assert_eq!(owner.sign_in(OWNER, PASSWORD).await.status, 303);
    enter(&owner).await;
    for (album, id, bytes) in &acked.uploads {
        let got = owner.get_bytes(&app(&owner, &format!("/a/{album}/p/{id}/original"))).await;
        assert_eq!(&got, bytes, "acknowledged photo {id} is whole");
        let thumb = owner.get(&app(&owner, &format!("/a/{album}/p/{id}/thumb"))).await;
        assert_eq!(thumb.status, 200, "acknowledged photo {id} has its thumbnail");
    }
    let home = owner.get(&app(&owner, "/")).await;
    for title in &acked.albums {
        assert!(home.body.contains(title.as_str()), "acknowledged album {title} exists");
    }
    let people = porch.cli(&["user", "list"]).stdout;
    for name in &acked.joined {
        assert!(people.contains(name.as_str()), "acknowledged join of {name} exists");
    }
    // Every photo the album shows, acknowledged or not, is whole.
    let grid = owner.get(&app(&owner, &format!("/a/{album}"))).await;
    let mut shown = 0;
    for piece in grid.body.split(&format!("href=\"/a/{album}/p/")).skip(1) {
        let id = piece.split('"').next().expect("id");
        let thumb = owner.get(&app(&owner, &format!("/a/{album}/p/{id}/thumb"))).await;
        assert_eq!(thumb.status, 200, "shown photo {id} has its thumbnail");
        shown += 1;
    }
    assert!(shown >= acked.uploads.len().min(48), "the grid shows the photos ({shown})");
    assert!(
        !acked.uploads.is_empty() && !acked.albums.is_empty() && !acked.joined.is_empty(),
        "some writes of each kind finished before the kills"
    );
}

#[tokio::test]
async fn a_nearly_full_disk_refuses_uploads_with_a_clear_message() {
    let porch = Porch::start_with_config("[store]\nmin_free = \"1000TiB\"\n", "127.0.0.1:0");
    let owner = porch.owner().await;
    enter(&owner).await;
    let album = new_album(&owner, "Full").await;
    let (status, reply) = upload(&owner, &album, "a.jpg", jpeg(200, 100, 1)).await;
    assert_eq!(status, 507, "{reply}");
    let message = reply["error"].as_str().unwrap_or_default();
    assert!(message.contains("disk is almost full"), "{reply}");
    assert_eq!(integrity(&porch.data().join("porch.sqlite")).await, "ok");
    assert!(blob_files(&porch.data()).is_empty(), "nothing half-stored");
}

/// A JPEG of noise, which compresses badly: big for its size.
fn noisy_jpeg(width: u32, height: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(width, height, |x, y| {
        let h = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)).wrapping_mul(2_246_822_519);
        image::Rgb([h as u8, (h >> 8) as u8, (h >> 16) as u8])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Jpeg).expect("encode");
    out.into_inner()
}

/// A tmpfs of `size` mounted at a new folder, unmounted on drop (before
/// its temporary parent folder goes).
struct SmallDisk(PathBuf, #[allow(dead_code)] tempfile::TempDir);

impl SmallDisk {
    fn mount(size: &str) -> Option<SmallDisk> {
        let dir = tempfile::TempDir::new().expect("tmp");
        let at = dir.path().join("data");
        std::fs::create_dir_all(&at).expect("mkdir");
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs", path_str(&at)])
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| SmallDisk(at, dir))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").args(["-l", path_str(&self.0)]).status();
    }
}

#[tokio::test]
async fn a_really_full_disk_fails_the_upload_cleanly_and_loses_nothing() {
    let Some(disk) = SmallDisk::mount("64m") else {
        assert!(!in_ci(), "CI runs as root and must be able to mount a tmpfs for the full-disk test");
        eprintln!("SKIPPED: the full-disk test mounts a tmpfs and needs root (or CAP_SYS_ADMIN)");
        return;
    };
    // The data folder lives on the small disk; min_free 0 lets the disk
    // really fill up, so the upload meets ENOSPC itself.
    let dir = tempfile::TempDir::new().expect("tmp");
    std::os::unix::fs::symlink(&disk.0, dir.path().join("data")).expect("link");
    std::fs::write(dir.path().join("porch.toml"), "[store]\nmin_free = \"0\"\n[limits]\nuploads = \"off\"\n")
        .expect("cfg");
    let porch = Porch::start_in(dir);
    let owner = porch.owner().await;
    enter(&owner).await;
    let album = new_album(&owner, "Before").await;
    let first = jpeg(400, 300, 9);
    let (status, reply) = upload(&owner, &album, "kept.jpg", first.clone()).await;
    assert_eq!(status, 200, "{reply}");
    let kept = reply["id"].as_str().expect("id").to_owned();

    // Fill the disk, leaving less than the next upload needs.
    let free = {
        let out = Command::new("df").args(["--output=avail", "-B1", path_str(&disk.0)]).output().expect("df");
        String::from_utf8_lossy(&out.stdout).lines().nth(1).and_then(|l| l.trim().parse::<u64>().ok()).expect("free")
    };
    let filler = disk.0.join("filler");
    std::fs::write(&filler, vec![0u8; (free - 300 * 1024) as usize]).expect("fill");
    let big = noisy_jpeg(1200, 900);
    assert!(big.len() > 400 * 1024, "the upload must not fit: {}", big.len());
    let (status, reply) = upload(&owner, &album, "big.jpg", big.clone()).await;
    assert_eq!(status, 507, "a full disk is said plainly: {reply}");
    assert!(reply["error"].as_str().unwrap_or_default().contains("the server's disk is full"), "{reply}");

    // Nothing half-written, nothing lost, and room again once space is freed.
    let temps = std::fs::read_dir(disk.0.join("blobs/tmp")).expect("tmp").count();
    assert_eq!(temps, 0, "the failed upload's temp file is gone");
    let got = owner.get_bytes(&app(&owner, &format!("/a/{album}/p/{kept}/original"))).await;
    assert_eq!(got, first, "the earlier photo is intact");
    std::fs::remove_file(&filler).expect("free space");
    let (status, reply) = upload(&owner, &album, "big.jpg", big).await;
    assert_eq!(status, 200, "uploads work again: {reply}");
    assert_eq!(integrity(&disk.0.join("porch.sqlite")).await, "ok");
}

#[tokio::test]
async fn a_data_folder_from_an_older_schema_is_upgraded_in_place() {
    // A data folder as porch with schema 2 left it: an owner with a password,
    // a session, an invite and some app data, before the devices table.
    let dir = tempfile::TempDir::new().expect("tmp");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    let db = data.join("porch.sqlite");
    let mut migrator = sqlx::migrate::Migrator::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations"))
        .await
        .expect("migrations");
    migrator.migrations = migrator.migrations.iter().filter(|m| m.version <= 2).cloned().collect::<Vec<_>>().into();
    let options = sqlx::sqlite::SqliteConnectOptions::from_str("sqlite://")
        .expect("options")
        .filename(&db)
        .create_if_missing(true);
    let mut conn = sqlx::SqliteConnection::connect_with(&options).await.expect("db");
    migrator.run_direct(&mut conn).await.expect("schema 2");
    use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
    let phc = argon2::Argon2::default()
        .hash_password(PASSWORD.as_bytes(), &SaltString::generate(&mut OsRng))
        .expect("hash")
        .to_string();
    for sql in [
        "INSERT INTO people (id, display_name, role, created_at) VALUES (1, 'Olivia Owner', 'owner', 1700000000)"
            .to_owned(),
        format!(
            "INSERT INTO credentials (person_id, kind, secret, created_at) VALUES (1, 'password', '{phc}', 1700000000)"
        ),
        // Recent enough for audit.keep (a year): the hourly sweep keeps it.
        format!(
            "INSERT INTO audit_events (at, action, subject, detail) VALUES ({}, 'person.joined', 'Olivia Owner', '')",
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() - 86400
        ),
    ] {
        sqlx::query(&sql).execute(&mut conn).await.expect("old data");
    }
    conn.close().await.expect("close");

    let porch = Porch::start_in(dir);
    assert!(porch.setup_link.is_none(), "the old owner is still there");
    let b = porch.browser();
    assert_eq!(b.sign_in(OWNER, PASSWORD).await.status, 303, "the owner signs in after the upgrade");
    assert!(porch.audit().contains("person.joined"), "old audit events kept");
    let options = sqlx::sqlite::SqliteConnectOptions::from_str("sqlite://")
        .expect("o")
        .filename(porch.data().join("porch.sqlite"));
    let mut conn = sqlx::SqliteConnection::connect_with(&options).await.expect("db");
    let version: i64 =
        sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations").fetch_one(&mut conn).await.expect("v");
    assert_eq!(version, porch::store::known_schema(), "brought up to date");
    let devices: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM devices").fetch_one(&mut conn).await.expect("devices");
    assert_eq!(devices, 1, "the upgraded schema is in use: the sign-in remembered its device");
    conn.close().await.expect("close");
}

#[tokio::test]
async fn a_database_from_a_newer_porch_is_refused_and_left_alone() {
    let mut porch = Porch::start();
    assert!(porch.stop().success());
    let db = porch.data().join("porch.sqlite");
    let options = sqlx::sqlite::SqliteConnectOptions::from_str("sqlite://").expect("o").filename(&db);
    let mut conn = sqlx::SqliteConnection::connect_with(&options).await.expect("db");
    sqlx::query("INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (999, 'future', 1, x'00', 0)")
        .execute(&mut conn)
        .await
        .expect("future");
    conn.close().await.expect("close");
    let before = tables(&db).await;
    let (ok, _, err) = run_porch(&["serve", "--listen", "127.0.0.1:0", "--data", path_str(&porch.data())]);
    assert!(!ok && err.contains("newer porch") && err.contains("schema 999"), "{err}");
    assert_eq!(tables(&db).await, before, "nothing was changed");
}

#[tokio::test]
async fn a_second_porch_on_the_same_data_folder_is_refused() {
    let porch = Porch::start();
    let (ok, _, err) = run_porch(&["serve", "--listen", "127.0.0.1:0", "--data", path_str(&porch.data())]);
    assert!(!ok && err.contains("already serving"), "{err}");
    assert!(porch.browser().get("/").await.status < 500, "the first one carries on");
}

#[test]
fn the_systemd_unit_passes_systemd_analyze_verify() {
    if !have_tool("systemd-analyze", "systemd") {
        return;
    }
    let dir = tempfile::TempDir::new().expect("tmp");
    let (ok, unit, err) = run_porch(&["install-service", "--print", "--binary", env!("CARGO_BIN_EXE_porch")]);
    assert!(ok, "{err}");
    let path = dir.path().join("porch.service");
    std::fs::write(&path, &unit).expect("write");
    let out = Command::new("systemd-analyze").args(["verify", "--man=no"]).arg(&path).output().expect("verify");
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let complaints: Vec<&str> = said.lines().filter(|l| l.contains("porch.service")).collect();
    assert!(out.status.success() && complaints.is_empty(), "systemd-analyze verify: {said}");
    assert!(unit.contains("AmbientCapabilities=CAP_NET_BIND_SERVICE"));
}

#[tokio::test]
async fn metrics_are_served_on_their_own_local_listener() {
    let porch = Porch::start();
    let b = porch.browser();
    assert_eq!(b.get("/").await.status, 200);
    let metrics = porch.metrics_url();
    assert!(metrics.starts_with("http://127.0.0.1:"), "{metrics}");
    let text = reqwest::get(&metrics).await.expect("metrics").text().await.expect("text");
    let answered = text
        .lines()
        .find_map(|l| l.strip_prefix("porch_http_requests_total{host=\"porch\",status=\"2xx\"}"))
        .and_then(|v| v.trim().parse::<u64>().ok());
    assert!(answered.is_some_and(|n| n >= 1), "the page just fetched is counted: {text}");
    assert!(text.contains("porch_connections_open"), "{text}");
    assert!(text.contains("porch_data_disk_free_bytes"), "{text}");
    let public = b.get("/metrics").await;
    assert!(!public.body.contains("porch_http_requests_total"), "the public listener never serves metrics");
}
