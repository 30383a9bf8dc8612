//! Criterion micro-benchmarks of the hot paths (`cargo bench --bench hot`):
//!
//! - `session/resolve`: a session cookie to its caller (hash, SQLite lookup
//!   of the session and the person), as every signed-in request does;
//! - `budget/check`: the rate limiter's check for one client and for a
//!   client among 10,000;
//! - `app/instance`: a fresh instance of the plain `bare` app from its
//!   pre-instantiated component, run to its full response (what every app
//!   request costs besides HTTP and the gate);
//! - `media/thumbnail`: the 9-megapixel phone photo to 400 and 2048 px
//!   (skipped without `../shared/fixtures`);
//! - `feed/start page`: what the start page asks the store for its "What's
//!   new" (the newest 30 lines and the unread count per app) for one of 50
//!   people whose Photos holds 20,000 photos' news (issue 26).
//!
//! `cargo bench --bench hot -- session` runs one group.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::BodyExt;

use porch::config::{self, Limits, Overrides};
use porch::gate::budget::{Budgets, Class};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime")
}

fn session(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::TempDir::new().expect("temp");
    let overrides = Overrides { data_dir: Some(dir.path().to_owned()), ..Overrides::default() };
    let settings = config::resolve(None, &BTreeMap::new(), &overrides).expect("settings");
    let (store, token) = rt.block_on(async {
        let store = porch::store::Store::open(dir.path()).await.expect("store");
        let link = porch::gate::invites::ensure_owner_setup(&store, &settings, "http://localhost")
            .await
            .expect("setup")
            .expect("link");
        let invite_token = link.rsplit('/').next().expect("token");
        let invite = porch::gate::invites::check(&store, invite_token, None).await.expect("check").expect("invite");
        let joined = store
            .redeem_invite(
                &invite,
                "Bench",
                &porch::store::NewCredential::Password("$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g"),
                1,
            )
            .await;
        let porch::store::Redemption::Joined(person) = joined.expect("redeem") else { panic!("not joined") };
        let cookie = porch::gate::sessions::start(&store, &settings, person, "bench").await.expect("session");
        (store, cookie.value().to_owned())
    });
    c.bench_function("session/resolve", |b| {
        b.to_async(&rt).iter(|| async {
            let found = porch::gate::sessions::resolve(&store, &settings, &token).await.expect("resolve");
            assert!(found.is_some());
        })
    });
    rt.block_on(store.close());
}

fn budget(c: &mut Criterion) {
    let period = Some(Duration::from_nanos(1));
    let limits = Limits {
        requests: period,
        requests_burst: u32::MAX,
        door: period,
        door_burst: u32::MAX,
        uploads: period,
        uploads_burst: u32::MAX,
        in_flight: 1,
        in_flight_per_client: 1,
        ..Limits::default()
    };
    let budgets = Budgets::new(&limits);
    let one: IpAddr = "192.0.2.1".parse().expect("ip");
    c.bench_function("budget/check one client", |b| b.iter(|| budgets.check(one, Class::General).is_ok()));
    let clients: Vec<IpAddr> = (0..10_000u32).map(|i| IpAddr::from((0x0a00_0000 + i).to_be_bytes())).collect();
    let mut i = 0;
    c.bench_function("budget/check among 10,000 clients", |b| {
        b.iter(|| {
            i = (i + 1) % clients.len();
            budgets.check(clients[i], Class::General).is_ok()
        })
    });
}

/// A store and the apps layer on `dir`, with default settings.
async fn store_and_apps(dir: &Path) -> (porch::store::Store, porch::apps::Apps) {
    let store = porch::store::Store::open(dir).await.expect("store");
    let apps = porch::apps::Apps::open(
        store.clone(),
        dir,
        &config::AppRuntime::default(),
        &config::MediaLimits::default(),
        &config::Activity::default(),
        0,
    )
    .expect("apps");
    (store, apps)
}

fn instance(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::TempDir::new().expect("temp");
    let bare = Path::new(env!("TEST_APPS_DIR")).join("bare.porchapp");
    let (store, app) = rt.block_on(async {
        let (store, apps) = store_and_apps(dir.path()).await;
        let package = porch::apps::Package::read(&bare, u64::MAX).expect("bare package");
        apps.install_package(&package, porch::store::audit::Actor::System).await.expect("install bare");
        let app = apps.resolve("bare").await.expect("resolve").expect("bare installed");
        (store, app)
    });
    c.bench_function("app/instance: bare hello, fresh instance per request", |b| {
        b.to_async(&rt).iter(|| async {
            let request = Request::builder()
                .uri("http://bare.localhost/")
                .header("host", "bare.localhost")
                .body(Body::empty())
                .expect("request");
            let response = app.serve(request, false, 1).await.0.expect("served");
            let body = response.into_body().collect().await.expect("body").to_bytes();
            assert_eq!(&body[..], b"Hello, world!\n");
        })
    });
    rt.block_on(store.close());
}

fn thumbnail(c: &mut Criterion) {
    let photo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/photos/cameras/HMD_Nokia_8.3_5G.jpg");
    let Ok(bytes) = std::fs::read(&photo) else {
        eprintln!("!!! {} is missing: media/thumbnail skipped !!!", photo.display());
        return;
    };
    let limits = porch::media::MediaLimits::default();
    let mut group = c.benchmark_group("media/thumbnail 9 MP JPEG");
    group.sample_size(20);
    for edge in [400, 2048] {
        group.bench_function(format!("{edge} px"), |b| {
            b.iter(|| porch::media::thumbnail(&bytes, edge, porch::media::ThumbFormat::Jpeg, &limits).expect("thumb"))
        });
    }
    let both = [400, 2048].map(|edge| (edge, porch::media::ThumbFormat::Jpeg));
    group.bench_function("400 + 2048 px, one decode", |b| {
        b.iter(|| porch::media::thumbnails(&bytes, &both, &limits).expect("thumbs"))
    });
    group.finish();
}

criterion_group!(benches, session, budget, instance, thumbnail, feed);
criterion_main!(benches);

/// 50 people with Photos; 20,000 photos as 1,000 upload bursts of 20 (one
/// line each), 2,000 comments and 1,000 likes, each line for all 49 others
/// (about 196,000 inbox rows); half of it unread.
fn feed(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::TempDir::new().expect("temp");
    let photos = Path::new(env!("TEST_APPS_DIR")).join("photos.porchapp");
    let (store, people) = rt.block_on(async {
        let (store, apps) = store_and_apps(dir.path()).await;
        let package = porch::apps::Package::read(&photos, u64::MAX).expect("photos package");
        apps.install_package(&package, porch::store::audit::Actor::System).await.expect("install photos");
        let mut people = Vec::new();
        for i in 0..50u8 {
            let invite = porch::store::NewInvite {
                token_hash: [i; 32],
                owner_setup: false,
                note: String::new(),
                role: porch::store::Role::Member,
                created_by: None,
                created_at: 0,
                expires_at: i64::MAX,
                max_uses: 1,
                groups: vec!["family".into()],
                grants: vec![("photos".into(), "viewer".into())],
                app: None,
            };
            let id = store.create_invite(&invite).await.expect("invite");
            let row = store.invite(id).await.expect("read").expect("invite row");
            let credential =
                porch::store::NewCredential::Password("$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g");
            let joined = store.redeem_invite(&row, &format!("Person {i}"), &credential, 1).await.expect("redeem");
            let porch::store::Redemption::Joined(person) = joined else { panic!("not joined") };
            people.push(person);
        }
        let family = vec!["family".to_owned()];
        for i in 0..4000i64 {
            let (text, batch, count) = match i % 4 {
                0 | 1 => ("added a photo to Summer", format!("added:{i}"), 20),
                2 => ("commented on a photo in Summer: “Lovely”", format!("comment:{i}"), 1),
                _ => ("likes your photo in Summer", format!("like:{i}"), 1),
            };
            let news = porch::store::NewActivity {
                app: "photos",
                actor: people[(i % 50) as usize],
                text,
                text_many: Some("added {count} photos to Summer"),
                count,
                batch: Some(&batch),
                scope: Some("album:summer"),
                link: "/a/summer",
                thumbnail: Some("summer/x/t"),
                people: &[],
                groups: &family,
                at: 1_700_000_000 + i * 60,
                merge_since: 1_700_000_000 + i * 60,
            };
            store.publish_activity(&news).await.expect("publish");
            if i == 2000 {
                for p in &people {
                    store.mark_activity_seen(*p, None, 1_700_000_000 + i * 60).await.expect("seen");
                }
            }
        }
        (store, people)
    });
    let reader = people[7];
    c.bench_function("feed/start page: 30 newest lines and unread counts, 50 people, 20,000 photos", |b| {
        b.to_async(&rt).iter(|| async {
            let lines = store.activity_feed(reader, 30).await.expect("feed");
            let unread = store.activity_unread(reader).await.expect("unread");
            assert_eq!(lines.len(), 30);
            assert!(!unread.is_empty());
        })
    });
    // What an added photo costs on the upload path: its news merged into
    // the uploader's line, made new again for the 49 others.
    let family = vec!["family".to_owned()];
    let uploader = people[0];
    let mut at = 1_800_000_000;
    c.bench_function("feed/publish: one added photo's news, merged, for 49 people", |b| {
        b.to_async(&rt).iter(|| {
            at += 1;
            let (store, family) = (&store, &family);
            async move {
                let news = porch::store::NewActivity {
                    app: "photos",
                    actor: uploader,
                    text: "added a photo to Summer",
                    text_many: Some("added {count} photos to Summer"),
                    count: 1,
                    batch: Some("added:bench"),
                    scope: Some("album:summer"),
                    link: "/a/summer",
                    thumbnail: Some("summer/x/t"),
                    people: &[],
                    groups: family,
                    at,
                    merge_since: at - 900,
                };
                store.publish_activity(&news).await.expect("publish");
            }
        })
    });
    rt.block_on(store.close());
}
