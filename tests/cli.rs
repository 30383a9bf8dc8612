//! The command line against a running server's data folder: invites, people
//! and the audit log, with output people and scripts can read.

use crate::util::{OWNER, PASSWORD, Porch};

#[tokio::test]
async fn invite_list_create_and_revoke_while_serving() {
    let porch = Porch::start();
    let _owner = porch.owner().await;
    let out = porch.cli(&[
        "invite",
        "create",
        "--note",
        "for Grandpa",
        "--group",
        "family",
        "--app",
        "photos:viewer",
        "--expires",
        "2d",
        "--uses",
        "3",
    ]);
    assert!(out.success, "{}", out.stderr);
    let link = out.stdout.lines().last().expect("last line");
    assert!(link.starts_with(&format!("{}/join/", porch.url)), "the link uses the running server's address: {link}");

    let list = porch.cli(&["invite", "list"]).stdout;
    let row = list.lines().find(|l| l.contains("for Grandpa")).expect("listed");
    assert!(row.contains("active") && row.contains("0/3") && row.contains("member"), "{row}");
    let id = row.split_whitespace().next().expect("id");

    assert!(porch.cli(&["invite", "revoke", id]).success);
    let again = porch.cli(&["invite", "revoke", id]);
    assert!(!again.success, "revoking twice says so");
    assert!(again.stderr.contains("no active invite"), "{}", again.stderr);
    assert!(porch.cli(&["invite", "list"]).stdout.lines().any(|l| l.contains("for Grandpa") && l.contains("revoked")));
}

#[tokio::test]
async fn invite_create_refuses_bad_input_with_a_clear_message() {
    let porch = Porch::start();
    for (args, expect) in [
        (vec!["--role", "king"], "--role must be member or owner"),
        (vec!["--expires", "forever"], "--expires"),
        (vec!["--app", "photos"], "APP:ROLE"),
        (vec!["--group", "Family Members"], "not a usable group name"),
        (vec!["--uses", "0"], "from 1 to 1000"),
    ] {
        let mut all = vec!["invite", "create"];
        all.extend(args);
        let out = porch.cli(&all);
        assert!(!out.success, "{all:?} should fail");
        assert!(out.stderr.contains(expect), "{all:?}: {}", out.stderr);
    }
}

#[tokio::test]
async fn owner_invite_from_the_cli_makes_a_second_owner() {
    let porch = Porch::start();
    let _owner = porch.owner().await;
    let link = porch.invite(&["--role", "owner", "--note", "co-owner"]);
    let partner = porch.browser();
    assert_eq!(partner.join(&link, "Partner", PASSWORD).await.status, 303);
    assert_eq!(partner.get("/admin/people").await.status, 200);
    // Now that there are two owners, one may be disabled.
    assert!(porch.cli(&["user", "disable", OWNER]).success);
}

#[tokio::test]
async fn user_list_and_audit_show_what_happened() {
    let porch = Porch::start();
    let _owner = porch.owner().await;
    let users = porch.cli(&["user", "list"]);
    assert!(users.success);
    assert!(
        users.stdout.lines().any(|l| l.contains(OWNER) && l.contains("owner") && l.contains("active")),
        "{}",
        users.stdout
    );
    let missing = porch.cli(&["user", "disable", "Nobody"]);
    assert!(!missing.success && missing.stderr.contains("porch user list"), "{}", missing.stderr);

    let audit = porch.cli(&["audit", "--limit", "2"]);
    assert!(audit.success);
    assert_eq!(audit.stdout.lines().count(), 2, "--limit is honoured: {}", audit.stdout);
    let all = porch.audit();
    assert!(all.contains("invite.created") && all.contains("owner setup link") && all.contains("invite.used"), "{all}");
}

#[tokio::test]
async fn init_writes_a_documented_config_and_prints_the_setup_link() {
    let porch = Porch::start();
    let out = porch.cli(&["init"]);
    assert!(out.success, "{}", out.stderr);
    assert!(out.stdout.contains("Owner setup link: "), "{}", out.stdout);
    let config = std::fs::read_to_string(porch.dir().join("porch.toml")).expect("porch.toml written");
    for key in porch::config::KEYS {
        let leaf = key.name.rsplit('.').next().expect("leaf");
        assert!(config.contains(&format!("# {leaf} = ")), "{} missing from porch.toml", key.name);
    }
    // The CLI's link works on the running server (it replaced the one printed at start).
    let link = out.stdout.lines().find_map(|l| l.strip_prefix("Owner setup link: ")).expect("link");
    assert_eq!(porch.browser().get(link).await.status, 200);
}
