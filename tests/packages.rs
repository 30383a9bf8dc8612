//! Signed app packages (issue 23): an app's identity is its id and its
//! publisher key; updates need that key and a higher version, keep the
//! version before for a rollback, and are taken back by porch itself when
//! they fail their first requests.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::util::{Browser, OWNER, Porch, test_package};

/// hello's component under the id "notes" at `version`.
fn notes(version: &str) -> String {
    format!(
        "id = \"notes\"\nname = \"Notes\"\nversion = \"{version}\"\ncomponent = \"notes.wasm\"\nroles = [\"visitor\"]\n\
         [capabilities]\nkv = {{ quota = \"1MiB\" }}\n"
    )
}

fn pack_notes(porch: &Porch, version: &str, key: &Path) -> PathBuf {
    let dir = porch.app_variant("hello", &format!("notes-{version}"), &notes(version));
    porch.pack(&dir, key)
}

fn visits(page: &str) -> Option<u32> {
    let after = page.split("visit number ").nth(1)?;
    after.split('.').next()?.parse().ok()
}

async fn visit(owner: &Browser) -> u32 {
    let page = owner.follow(&owner.app_url("notes", "/")).await;
    visits(&page.body).unwrap_or_else(|| panic!("not the notes page ({}): {}", page.status, page.body))
}

#[tokio::test]
async fn keygen_pack_inspect_and_the_bundled_apps_publisher() {
    let porch = Porch::start();
    let key = porch.author_key("author");
    let again = porch.cli(&["app", "keygen", "--out", key.to_str().expect("path")]);
    assert!(!again.success, "keygen must never overwrite a key: {}", again.stdout);
    let text = std::fs::read_to_string(&key).expect("key");
    assert!(text.contains("keep this file secret"), "{text}");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&key).expect("meta").permissions());
    assert_eq!(mode & 0o077, 0, "the key file is for its owner only");

    let package = pack_notes(&porch, "1.0.0", &key);
    assert!(package.ends_with("notes-1.0.0.porchapp"), "{}", package.display());
    let shown = porch.cli(&["app", "inspect", package.to_str().expect("path")]);
    assert!(shown.success, "{}", shown.stderr);
    for wanted in ["Notes 1.0.0", "Publisher: ", "kv: keeps records, up to 1 MiB", "memory: 64 MiB per request"] {
        assert!(shown.stdout.contains(wanted), "{wanted:?} in {}", shown.stdout);
    }
    let words = shown.stdout.lines().find_map(|l| l.trim().strip_prefix("Publisher: ")).expect("publisher line");
    assert_eq!(words.split(' ').count(), 10, "ten words a person can compare: {words}");

    // The bundled apps are signed by porch's own build key.
    let list = porch.cli(&["app", "list"]).stdout;
    let photos = list.lines().find(|l| l.starts_with("photos")).expect("photos listed");
    assert!(photos.contains("porch's build key"), "{list}");
    let hello = porch.cli(&["app", "inspect", test_package("hello").to_str().expect("path")]).stdout;
    assert!(hello.contains("porch's own build key"), "{hello}");
}

#[tokio::test]
async fn a_changed_or_cut_package_is_refused_before_anything_is_read() {
    let porch = Porch::start();
    let key = porch.author_key("author");
    let package = pack_notes(&porch, "1.0.0", &key);
    let bytes = std::fs::read(&package).expect("package");
    type Change = Box<dyn Fn(&mut Vec<u8>)>;
    let cases: [(&str, Change, &str); 5] = [
        ("a byte of the component", Box::new(|b| *b.last_mut().expect("byte") ^= 1), "does not match its signed hash"),
        ("a byte of the signed file list", Box::new(|b| b[120] ^= 1), "signature does not match"),
        ("the publisher key", Box::new(|b| b[20] ^= 1), "publisher"),
        ("the end", Box::new(|b| b.truncate(b.len() - 10)), "cut short"),
        ("the magic", Box::new(|b| b[0] = b'X'), "not a porch app package"),
    ];
    for (what, change, said) in cases {
        let mut changed = bytes.clone();
        change(&mut changed);
        let path = porch.dir().join("changed.porchapp");
        std::fs::write(&path, changed).expect("write");
        let out = porch.install_package(&path);
        assert!(!out.success, "a package with {what} changed was installed");
        assert!(out.stderr.contains(said), "{what}: {said:?} in {}", out.stderr);
        let inspect = porch.cli(&["app", "inspect", path.to_str().expect("path")]);
        assert!(!inspect.success, "inspect believed a package with {what} changed");
    }
    assert!(!porch.cli(&["app", "list"]).stdout.contains("notes"), "nothing refused was installed");
    // A package over apps.package_max is refused before it is read.
    let small = Porch::start_with_config("[apps]\npackage_max = \"1MiB\"\n", "127.0.0.1:0");
    let big = porch.dir().join("big.porchapp");
    std::fs::write(&big, vec![0u8; (1 << 20) + 1]).expect("write");
    let out = small.install_package(&big);
    assert!(!out.success && out.stderr.contains("apps.package_max"), "{}", out.stderr);
}

#[tokio::test]
async fn updates_need_the_same_publisher_and_a_higher_version_and_roll_back() {
    let porch = Porch::start();
    let owner = porch.owner().await;
    let key = porch.author_key("author");
    let v1 = pack_notes(&porch, "1.0.0", &key);

    // Not at a terminal and without --yes, nothing is installed.
    let asked = porch.cli(&["app", "install", v1.to_str().expect("path")]);
    assert!(!asked.success && asked.stderr.contains("--yes"), "{}", asked.stderr);
    let out = porch.install_package(&v1);
    assert!(out.success, "{}", out.stderr);
    porch.grant(OWNER, "notes:visitor");
    assert_eq!(visit(&owner).await, 1);
    let same = porch.install_package(&v1);
    assert!(same.success && same.stdout.contains("installed already"), "{}", same.stdout);

    // An update from the same key keeps the data and the version before.
    let out = porch.install_package(&pack_notes(&porch, "1.1.0", &key));
    assert!(out.success, "{}", out.stderr);
    assert!(out.stdout.contains("from 1.0.0 to 1.1.0") && out.stdout.contains("porch app rollback notes"));
    assert_eq!(visit(&owner).await, 2, "an update keeps the app's data");
    let list = porch.cli(&["app", "list"]).stdout;
    let row = list.lines().find(|l| l.starts_with("notes")).expect("notes listed");
    assert!(row.contains("1.1.0") && row.contains("1.0.0"), "{list}");

    // Going back in version is refused.
    let older = porch.install_package(&pack_notes(&porch, "1.0.5", &key));
    assert!(!older.success && older.stderr.contains("higher version"), "{}", older.stderr);

    // Another publisher's "update" is refused, naming both publishers.
    let stranger = porch.author_key("stranger");
    let theirs = porch.install_package(&pack_notes(&porch, "2.0.0", &stranger));
    assert!(!theirs.success, "{}", theirs.stdout);
    let mine_words = words_of(&porch, &v1);
    assert!(theirs.stderr.contains(&mine_words), "names the publisher here: {}", theirs.stderr);
    assert!(theirs.stderr.contains("another publisher"), "{}", theirs.stderr);
    assert!(porch.cli(&["app", "list"]).stdout.contains("1.1.0"), "nothing changed");

    // Rollback goes back, and again forward; the data stays.
    let back = porch.cli(&["app", "rollback", "notes"]);
    assert!(back.success && back.stdout.contains("from 1.1.0 to 1.0.0"), "{} {}", back.stdout, back.stderr);
    assert_eq!(visit(&owner).await, 3);
    let forward = porch.cli(&["app", "rollback", "notes"]);
    assert!(forward.success && forward.stdout.contains("from 1.0.0 to 1.1.0"), "{}", forward.stdout);
    let audit = porch.audit();
    assert!(audit.contains("app.updated") && audit.contains("app.rolled_back"), "{audit}");
    let none = porch.cli(&["app", "rollback", "hello"]);
    assert!(!none.success && none.stderr.contains("no earlier version"), "{}", none.stderr);

    // Removed with its data kept, the same publisher's package brings it
    // back; another publisher's does not.
    assert!(porch.cli(&["app", "remove", "notes"]).success);
    let theirs = porch.install_package(&pack_notes(&porch, "3.0.0", &stranger));
    assert!(!theirs.success && theirs.stderr.contains("kept data"), "{}", theirs.stderr);
    assert!(porch.install_package(&pack_notes(&porch, "1.2.0", &key)).success);
    porch.grant(OWNER, "notes:visitor");
    assert_eq!(visit(&owner).await, 4, "the kept data came back");

    // Replacing the publisher: the data goes with it only when asked.
    let path = pack_notes(&porch, "3.0.0", &stranger);
    let path = path.to_str().expect("path");
    let kept = porch.cli(&["app", "replace", "notes", path, "--keep-data", "--yes"]);
    assert!(kept.success, "{}", kept.stderr);
    assert_eq!(visit(&owner).await, 5, "--keep-data hands the data over");
    let fresh = pack_notes(&porch, "1.0.0", &key);
    let deleted = porch.cli(&["app", "replace", "notes", fresh.to_str().expect("path"), "--delete-data", "--yes"]);
    assert!(deleted.success, "{}", deleted.stderr);
    porch.grant(OWNER, "notes:visitor");
    assert_eq!(visit(&owner).await, 1, "--delete-data starts empty");
    let rollback = porch.cli(&["app", "rollback", "notes"]);
    assert!(!rollback.success, "no rollback to another publisher's version: {}", rollback.stdout);
}

/// The publisher words `porch app inspect` shows for a package.
fn words_of(porch: &Porch, package: &Path) -> String {
    let out = porch.cli(&["app", "inspect", package.to_str().expect("path")]).stdout;
    out.lines().find_map(|l| l.trim().strip_prefix("Publisher: ")).expect("publisher").trim().to_owned()
}

#[tokio::test]
async fn an_update_that_fails_its_first_requests_is_taken_back() {
    let porch = Porch::start();
    let owner = porch.owner().await;
    let key = porch.author_key("author");
    let v1 =
        "id = \"flaky\"\nname = \"Flaky\"\nversion = \"1.0.0\"\ncomponent = \"flaky.wasm\"\nroles = [\"viewer\"]\n";
    let dir = porch.app_variant("echo", "flaky-1", v1);
    assert!(porch.install_package(&porch.pack(&dir, &key)).success);
    porch.grant(OWNER, "flaky:viewer");
    let url = owner.app_url("flaky", "/panic");
    assert_eq!(owner.follow(&url).await.status, 200, "1.0.0 answers every path");

    // 1.1.0 is a build that panics on that path (the hostile test app).
    let v2 = "id = \"flaky\"\nname = \"Flaky\"\nversion = \"1.1.0\"\ncomponent = \"flaky.wasm\"\nroles = [\"victim\"]\n\
              [capabilities]\nkv = { quota = \"64KiB\" }\nblobs = { quota = \"1MiB\" }\npeople = true\nmedia = true\n\
              [limits]\ntime = \"1s\"\n";
    let dir = porch.app_variant("hostile", "flaky-2", v2);
    let out = porch.install_package(&porch.pack(&dir, &key));
    assert!(out.success, "{}", out.stderr);
    for _ in 0..3 {
        assert_eq!(owner.get(&url).await.status, 500, "1.1.0 fails");
    }
    // The third failure took it back; the rollback runs beside the request.
    let mut status = 0;
    for _ in 0..50 {
        status = owner.get(&url).await.status;
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200, "porch went back to 1.0.0 by itself");
    let list = porch.cli(&["app", "list"]).stdout;
    assert!(list.contains("flaky") && list.contains("failed 3 of its first 20 requests"), "{list}");
    let audit = porch.audit();
    assert!(audit.contains("app.rolled_back") && audit.contains("failed 3 of its first"), "{audit}");
    // The grant moved to 1.1.0's role and back to 1.0.0's.
    assert!(porch.cli(&["app", "list"]).stdout.lines().any(|l| l.starts_with("flaky") && l.contains("1.0.0")));
}

#[tokio::test]
async fn the_admin_page_shows_a_package_before_installing_it() {
    let porch = Porch::start();
    let owner = porch.owner().await;
    let key = porch.author_key("author");
    let v1 = std::fs::read(pack_notes(&porch, "1.0.0", &key)).expect("package");
    let csrf = owner.get("/admin/apps").await.csrf();

    // Without the form's token nothing is read or kept.
    let forged = owner.post_file("/admin/apps/upload", &[("csrf", "nope")], ("package", "n.porchapp", &v1)).await;
    assert_eq!(forged.status, 403, "{}", forged.body);

    // A changed package is refused with the reason.
    let mut changed = v1.clone();
    *changed.last_mut().expect("byte") ^= 1;
    let refused = owner.post_file("/admin/apps/upload", &[("csrf", &csrf)], ("package", "n.porchapp", &changed)).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.body.contains("changed after signing"), "{}", refused.body);

    // A good one is shown with its publisher and what it asks for, and
    // nothing is installed until Install is pressed.
    let shown = owner.post_file("/admin/apps/upload", &[("csrf", &csrf)], ("package", "n.porchapp", &v1)).await;
    assert_eq!(shown.status, 200, "{}", shown.body);
    assert!(shown.body.contains(&words_of(&porch, &pack_notes(&porch, "1.0.0", &key))), "{}", shown.body);
    assert!(shown.body.contains("kv: keeps records, up to 1 MiB"), "{}", shown.body);
    assert!(shown.body.contains("Installing it a new app"), "{}", shown.body);
    assert!(!porch.cli(&["app", "list"]).stdout.contains("notes"));
    let staged = crate::util::between(&shown.body, "name=\"staged\" value=\"", "\"").expect("staged id");
    let installed = owner.post("/admin/apps/install", &[("csrf", &csrf), ("staged", &staged)]).await;
    assert_eq!(installed.status, 303, "{}", installed.body);
    assert!(porch.cli(&["app", "list"]).stdout.contains("notes"));
    let again = owner.post("/admin/apps/install", &[("csrf", &csrf), ("staged", &staged)]).await;
    assert!(again.body.contains("upload the package again"), "a confirmation is used once: {}", again.body);

    // Another publisher's package for that id is shown refused, with no
    // Install button.
    let stranger = porch.author_key("stranger");
    let theirs = std::fs::read(pack_notes(&porch, "2.0.0", &stranger)).expect("package");
    let shown = owner.post_file("/admin/apps/upload", &[("csrf", &csrf)], ("package", "t.porchapp", &theirs)).await;
    assert!(shown.body.contains("another publisher") && !shown.body.contains("id=\"install\""), "{}", shown.body);

    // An update, then the page's "Go back" button.
    let v2 = std::fs::read(pack_notes(&porch, "1.1.0", &key)).expect("package");
    let shown = owner.post_file("/admin/apps/upload", &[("csrf", &csrf)], ("package", "n.porchapp", &v2)).await;
    assert!(shown.body.contains("updates it from 1.0.0 to 1.1.0"), "{}", shown.body);
    let staged = crate::util::between(&shown.body, "name=\"staged\" value=\"", "\"").expect("staged id");
    assert_eq!(owner.post("/admin/apps/install", &[("csrf", &csrf), ("staged", &staged)]).await.status, 303);
    let page = owner.get("/admin/apps").await;
    assert!(page.body.contains("Go back to version 1.0.0"), "{}", page.body);
    let back = owner.post("/admin/apps/notes/rollback", &[("csrf", &csrf)]).await;
    assert_eq!(back.status, 303, "{}", back.body);
    assert!(owner.get("/admin/apps").await.body.contains("Go back to version 1.1.0"));

    // A member may not upload at all.
    let link = porch.invite(&[]);
    let member = porch.browser();
    assert_eq!(member.join(&link, "Member", crate::util::PASSWORD).await.status, 303);
    let member_csrf = member.get("/account").await.csrf();
    let theirs =
        member.post_file("/admin/apps/upload", &[("csrf", &member_csrf)], ("package", "n.porchapp", &v1)).await;
    assert_eq!(theirs.status, 403, "{}", theirs.body);
}

/// `porch app catalogue DIR --key KEY`; the `URL#KEY` for porch.toml.
fn make_catalogue(porch: &Porch, dir: &Path, key: &Path, base: &str) -> String {
    let out = porch.cli(&["app", "catalogue", dir.to_str().expect("path"), "--key", key.to_str().expect("path")]);
    assert!(out.success, "{}", out.stderr);
    let public = out.stdout.split("index.json#").nth(1).expect("key printed").split('"').next().expect("key");
    format!("{base}/index.json#{public}")
}

#[tokio::test]
async fn catalogues_offer_apps_and_updates_and_porch_keeps_working_without_them() {
    // The packages and the catalogue are made where their author works.
    let author = Porch::start();
    let key = author.author_key("author");
    let catalogue_key = author.author_key("catalogue");
    let shelf = author.dir().join("shelf");
    std::fs::create_dir_all(&shelf).expect("dir");
    std::fs::copy(pack_notes(&author, "1.0.0", &key), shelf.join("notes-1.0.0.porchapp")).expect("copy");
    let Some(web) = crate::util::WebFolder::serve(&shelf) else { return };
    let entry = make_catalogue(&author, &shelf, &catalogue_key, &web.url);

    // Without catalogues porch looks nowhere and says so.
    let alone = author.cli(&["app", "search"]);
    assert!(alone.success && alone.stdout.contains("names no app catalogues"), "{}", alone.stdout);

    let porch = Porch::start_with_config(&format!("[apps]\ncatalogues = \"{entry}\"\n"), "127.0.0.1:0");
    let owner = porch.owner().await;
    let found = porch.cli(&["app", "search", "note"]);
    assert!(found.success && found.stdout.contains("notes") && found.stdout.contains("1.0.0"), "{}", found.stdout);
    let out = porch.cli(&["app", "install", "notes", "--yes"]);
    assert!(out.success, "{}", out.stderr);
    assert!(out.stdout.contains("Installed Notes 1.0.0"), "{}", out.stdout);
    porch.grant(OWNER, "notes:visitor");
    assert_eq!(visit(&owner).await, 1);

    // The author publishes 1.1.0 (and a stranger's 9.0.0 for the same id
    // lands in the same catalogue: it is never offered as an update).
    std::fs::copy(pack_notes(&author, "1.1.0", &key), shelf.join("notes-1.1.0.porchapp")).expect("copy");
    let stranger = author.author_key("stranger");
    std::fs::copy(pack_notes(&author, "9.0.0", &stranger), shelf.join("notes-9.0.0.porchapp")).expect("copy");
    make_catalogue(&author, &shelf, &catalogue_key, &web.url);
    let updates = porch.cli(&["app", "updates"]);
    assert!(updates.success && updates.stdout.contains("Notes 1.0.0 → 1.1.0"), "{}", updates.stdout);
    assert!(!updates.stdout.contains("9.0.0"), "another publisher's version is no update: {}", updates.stdout);

    // On the admin page: look, see the update, check it, install it.
    let csrf = owner.get("/admin/apps").await.csrf();
    assert_eq!(owner.post("/admin/apps/look", &[("csrf", &csrf)]).await.status, 303);
    let page = owner.get("/admin/apps").await;
    assert!(page.body.contains("Notes 1.0.0 →") && page.body.contains("1.1.0"), "{}", page.body);
    let shown = owner.post("/admin/apps/fetch", &[("csrf", &csrf), ("id", "notes")]).await;
    assert!(shown.body.contains("updates it from 1.0.0 to 1.1.0"), "{}", shown.body);
    let staged = crate::util::between(&shown.body, "name=\"staged\" value=\"", "\"").expect("staged");
    assert_eq!(owner.post("/admin/apps/install", &[("csrf", &csrf), ("staged", &staged)]).await.status, 303);
    assert_eq!(visit(&owner).await, 2, "updated with its data");

    // A package swapped on the server after the index was signed is refused.
    std::fs::copy(pack_notes(&author, "1.2.0", &key), shelf.join("notes-1.2.0.porchapp")).expect("copy");
    make_catalogue(&author, &shelf, &catalogue_key, &web.url);
    let other = author.app_variant(
        "hello",
        "other-1.2.0",
        &notes("1.2.0").replace("name = \"Notes\"", "name = \"Notes, changed\""),
    );
    std::fs::copy(author.pack(&other, &key), shelf.join("notes-1.2.0.porchapp")).expect("swap");
    let swapped = porch.cli(&["app", "install", "notes", "--yes"]);
    assert!(
        !swapped.success && swapped.stderr.contains("not the one the catalogue's signed index lists"),
        "{}",
        swapped.stderr
    );
    assert!(porch.cli(&["app", "list"]).stdout.contains("1.1.0"), "nothing changed");

    // An index changed after signing is refused, and so is one signed by a
    // key other than the one porch.toml names.
    let index = shelf.join("index.json");
    let signed = std::fs::read_to_string(&index).expect("index");
    std::fs::write(&index, signed.replace("Notes", "Nodes")).expect("write");
    let changed = porch.cli(&["app", "search"]);
    assert!(changed.success && changed.stderr.contains("changed after it was signed"), "{}", changed.stderr);
    make_catalogue(&author, &shelf, &stranger, &web.url);
    let wrong = porch.cli(&["app", "search"]);
    assert!(wrong.stderr.contains("not the one porch.toml names"), "{}", wrong.stderr);

    // The catalogue's server goes away: porch says why and works on.
    drop(web);
    let gone = porch.cli(&["app", "updates"]);
    assert!(gone.success, "{}", gone.stderr);
    assert!(gone.stderr.contains("could not read the catalogue"), "{}", gone.stderr);
    assert_eq!(owner.post("/admin/apps/look", &[("csrf", &csrf)]).await.status, 303);
    let page = owner.get("/admin/apps").await;
    assert!(page.body.contains("could not read the catalogue") && page.body.contains("works on"), "{}", page.body);
    assert_eq!(visit(&owner).await, 3, "the installed app still serves");
}

/// The author's path from nothing (issue 23): `porch app new`, a plain
/// `cargo build`, keygen, pack, install, and the app answers.
#[tokio::test]
async fn a_new_app_builds_packs_installs_and_serves() {
    let porch = Porch::start();
    let owner = porch.owner().await;
    let parent = porch.dir().to_str().expect("path").to_owned();
    let made = porch.cli(&["app", "new", "jotter", "--dir", &parent]);
    assert!(made.success, "{}", made.stderr);
    assert!(made.stdout.contains("cargo build --release"), "{}", made.stdout);
    let dir = porch.dir().join("jotter");

    // Built as an author would (the components' build folder is shared so
    // the SDK's dependencies are not compiled again).
    let Some(target) = option_env!("PLUGINS_TARGET_DIR") else {
        panic!("build.rs names the plugins' target folder (PORCH_PREBUILT_APPS builds cannot run this test)");
    };
    let mut cargo = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo.args(["build", "--release"]).current_dir(&dir).env("CARGO_TARGET_DIR", target);
    for var in
        ["RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "RUSTC_WRAPPER", "RUSTC_WORKSPACE_WRAPPER", "CARGO_BUILD_TARGET"]
    {
        cargo.env_remove(var);
    }
    let built = cargo.output().expect("run cargo");
    assert!(built.status.success(), "the new app does not build: {}", String::from_utf8_lossy(&built.stderr));
    let wasm = Path::new(target).join("wasm32-wasip2/release/jotter.wasm");
    std::fs::copy(&wasm, dir.join("jotter.wasm")).expect("copy the component");

    let key = porch.author_key("jotter");
    let package = porch.pack(&dir, &key);
    assert!(package.ends_with("jotter-0.1.0.porchapp"), "{}", package.display());
    let out = porch.install_package(&package);
    assert!(out.success, "{}", out.stderr);
    porch.grant(OWNER, "jotter:writer");
    let page = owner.follow(&owner.app_url("jotter", "/")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("No notes yet") && page.body.contains("Olivia Owner"), "{}", page.body);
    let origin = owner.app_url("jotter", "");
    let added =
        owner.post_from(&owner.app_url("jotter", "/notes"), &[("text", "Dinner <b>at six</b>")], Some(&origin)).await;
    assert_eq!(added.status, 303, "{}", added.body);
    let page = owner.get(&owner.app_url("jotter", "/")).await;
    assert!(page.body.contains("Dinner &lt;b&gt;at six") && !page.body.contains("<b>"), "escaped: {}", page.body);
}

/// The SDK's own unit tests (routing patterns, the roles check against
/// app.toml, byte ranges, dates) run on the host, where they can.
#[test]
fn the_sdk_s_own_tests_pass() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut cargo = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo
        .args(["test", "--locked", "-p", "porch-app", "--manifest-path"])
        .arg(root.join("plugins/Cargo.toml"))
        .arg("--target-dir")
        .arg(root.join("target/sdk-test"));
    for var in
        ["RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "RUSTC_WRAPPER", "RUSTC_WORKSPACE_WRAPPER", "CARGO_BUILD_TARGET"]
    {
        cargo.env_remove(var);
    }
    let out = cargo.output().expect("run cargo test for the SDK");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(said.contains("test result: ok"), "{said}");
}
