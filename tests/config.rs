//! Start-up refuses bad configuration with a message naming the key, the
//! value and what is allowed, and environment variables override the file.

use std::process::Command;

fn serve_with_config(toml: &str, env: &[(&str, &str)]) -> (Option<i32>, String) {
    let dir = tempfile::TempDir::new().expect("temp");
    std::fs::write(dir.path().join("porch.toml"), toml).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_porch"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .envs(env.iter().copied())
        .output()
        .expect("run");
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn unknown_key_stops_start_up() {
    let (code, err) = serve_with_config("[sessions]\nlifetme = \"30d\"\n", &[]);
    assert_eq!(code, Some(2));
    assert!(err.contains("unknown key `sessions.lifetme`") && err.contains("sessions.lifetime"), "{err}");
}

#[test]
fn bad_value_names_key_value_and_what_is_allowed() {
    let (code, err) = serve_with_config("[passwords]\nmin_length = 6\n", &[]);
    assert_eq!(code, Some(2));
    assert!(err.contains("`passwords.min_length`") && err.contains("\"6\"") && err.contains("from 10 to 128"), "{err}");
}

#[test]
fn bad_environment_value_names_the_variable() {
    let (code, err) = serve_with_config("", &[("PORCH_SESSIONS_LIFETIME", "soon")]);
    assert_eq!(code, Some(2));
    assert!(err.contains("PORCH_SESSIONS_LIFETIME") && err.contains("soon"), "{err}");
}

#[test]
fn invalid_toml_is_reported() {
    let (code, err) = serve_with_config("domain = \n", &[]);
    assert_eq!(code, Some(2));
    assert!(err.contains("not valid TOML"), "{err}");
}

#[test]
fn tls_settings_that_cannot_work_say_what_to_set() {
    let (code, err) = serve_with_config("tls = \"acme\"\n", &[]);
    assert_eq!(code, Some(2));
    assert!(err.contains("domain = ") && err.contains("self-signed"), "{err}");
    let (code, err) = serve_with_config("tls = \"files\"\n", &[]);
    assert_eq!(code, Some(2));
    assert!(err.contains("certificates.cert") && err.contains("certificates.key"), "{err}");
    let (code, err) =
        serve_with_config("domain = \"family.example\"\ntls = \"acme\"\n[acme]\nchallenge = \"dns-01\"\n", &[]);
    assert_eq!(code, Some(2));
    assert!(err.contains("dns.listen"), "{err}");
}
