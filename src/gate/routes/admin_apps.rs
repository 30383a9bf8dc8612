//! Admin → Apps: who may use which app in which role, each app's publisher
//! and what it may do, going back to the version before an update, and
//! installing a package: uploaded, verified and shown (publisher, what it
//! asks for, what the install would do) before the owner presses Install.

use axum::extract::{Multipart, Path, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use minijinja::context;
use serde::Deserialize;

use super::door::CsrfOnly;
use crate::apps::{Package, Plan, Publisher, build_publisher};
use crate::gate::Gate;
use crate::gate::error::GateError;
use crate::gate::web::{CsrfForm, Owner, OwnerForm, SignedIn, Visitor};
use crate::store::Role;

/// Where the admin page uploads a package. Its body is not read whole as
/// a form's is (`web::whole_form`): only an owner's upload is read, streamed
/// under `apps.package_max`.
pub const PACKAGE_UPLOAD: &str = "/admin/apps/upload";

pub async fn apps_page(State(gate): State<Gate>, Owner(visitor): Owner) -> Result<Html<String>, GateError> {
    let people = gate.store.people().await?;
    let mut apps = Vec::new();
    let build = build_publisher();
    for row in gate.store.apps().await? {
        let manifest = crate::apps::Manifest::parse(&row.manifest).ok();
        let roles = manifest.as_ref().map(|m| m.roles.clone()).unwrap_or_default();
        let asks = manifest.as_ref().map(|m| m.capabilities_text()).unwrap_or_default();
        let publisher = gate.store.app_publisher(&row.id).await?.and_then(|h| Publisher::from_hex(&h));
        let by_porch = publisher.is_some() && publisher == build;
        let publisher = publisher.map(|p| p.words());
        let earlier = gate.store.app_previous(&row.id).await?.map(|p| p.version);
        let grants: Vec<_> = gate
            .store
            .app_people(&row.id)
            .await?
            .into_iter()
            .map(|(id, name, _, role)| context! { id, name, role })
            .collect();
        let url = format!("{}/", crate::gate::app_origin(&gate.base_url, &row.id));
        apps.push(context! { row, roles, asks, publisher, by_porch, earlier, grants, url });
    }
    let catalogues = gate.apps.catalogues.configured();
    let look = gate.apps.last_look();
    let (looked_at, problems, updates, offered) = match &look {
        Some((at, found)) => {
            let updates: Vec<_> = gate
                .apps
                .updates(found)
                .await
                .map_err(|e| GateError::App(e.to_string()))?
                .into_iter()
                .map(|(row, l)| context! { id => row.id, name => row.name, from => row.version, to => l.entry.version })
                .collect();
            let installed: Vec<String> = gate.store.apps().await?.into_iter().map(|r| r.id).collect();
            let mut offered: Vec<&crate::apps::catalogue::Listing> = Vec::new();
            for l in &found.listings {
                if installed.contains(&l.entry.id) {
                    continue;
                }
                match offered.iter_mut().find(|o| o.entry.id == l.entry.id) {
                    Some(o) if o.version() < l.version() => *o = l,
                    Some(_) => {}
                    None => offered.push(l),
                }
            }
            (Some(*at), found.problems.clone(), updates, context! { list => offered })
        }
        None => (None, Vec::new(), Vec::new(), context! { list => Vec::<()>::new() }),
    };
    gate.pages.render(
        "admin_apps.html",
        context! { apps, people, catalogues, looked_at, problems, updates, offered, ..visitor.page_context() },
    )
}

#[derive(Deserialize)]
pub struct GrantForm {
    csrf: String,
    person: i64,
    #[serde(default)]
    role: String,
}

impl CsrfForm for GrantForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

pub async fn app_grant(
    State(gate): State<Gate>,
    Path(app): Path<String>,
    OwnerForm(visitor, form): OwnerForm<GrantForm>,
) -> Result<Response, GateError> {
    let person = super::admin::person(&gate, form.person).await?;
    crate::gate::grants::grant(&gate.store, &person, &app, &form.role, visitor.actor()).await?;
    Ok(Redirect::to("/admin/apps").into_response())
}

pub async fn app_revoke(
    State(gate): State<Gate>,
    Path(app): Path<String>,
    OwnerForm(visitor, form): OwnerForm<GrantForm>,
) -> Result<Response, GateError> {
    let person = super::admin::person(&gate, form.person).await?;
    crate::gate::grants::revoke(&gate.store, &person, &app, visitor.actor()).await?;
    Ok(Redirect::to("/admin/apps").into_response())
}

/// Admin → Apps → "Go back to VERSION": the rollback `porch app rollback`
/// does.
pub async fn app_rollback(
    State(gate): State<Gate>,
    Path(app): Path<String>,
    OwnerForm(visitor, _form): OwnerForm<CsrfOnly>,
) -> Result<Response, GateError> {
    gate.apps.rollback(&app, "", visitor.actor()).await.map_err(|e| GateError::App(e.to_string()))?;
    Ok(Redirect::to("/admin/apps").into_response())
}

/// A package as the owner sees it before installing: the same facts
/// `porch app install` prints.
fn describe(package: &Package) -> minijinja::Value {
    let m = &package.manifest;
    let by_porch = build_publisher().is_some_and(|b| b == package.publisher);
    context! {
        id => m.id,
        name => m.name,
        version => m.version,
        roles => m.roles,
        publisher => package.publisher.words(),
        publisher_key => package.publisher.hex(),
        by_porch,
        component_size => package.component.len(),
        component_sha256 => package.component_sha256,
        asks => m.capabilities_text(),
        limits => m.limits_text(),
    }
}

/// Admin → Apps → "Install an app": reads the uploaded package (after the
/// form's CSRF field, and only from an owner), verifies it, keeps it for
/// the confirmation and shows what it is and what installing would do.
pub async fn app_upload(
    State(gate): State<Gate>,
    SignedIn(caller, visitor): SignedIn,
    mut form: Multipart,
) -> Result<Response, GateError> {
    if caller.person.role != Role::Owner {
        return Err(GateError::Forbidden("only the owners of this porch can install apps".into()));
    }
    let bad = |e: axum::extract::multipart::MultipartError| {
        GateError::Invalid(format!("the upload was cut off ({e}); try again"))
    };
    let field = form.next_field().await.map_err(bad)?;
    let csrf = match field {
        Some(f) if f.name() == Some("csrf") => f.text().await.map_err(bad)?,
        _ => String::new(),
    };
    if !crate::gate::secret::text_matches(&csrf, &caller.csrf) {
        return Err(GateError::CrossSite);
    }
    let Some(mut field) = form.next_field().await.map_err(bad)? else {
        return Err(GateError::Invalid("choose a .porchapp file to install".into()));
    };
    let max = gate.settings.apps.package_max;
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(bad)? {
        if bytes.len() as u64 + chunk.len() as u64 > max {
            return Err(GateError::Invalid(format!(
                "that package is larger than apps.package_max ({}); raise it in porch.toml if you trust this app",
                crate::apps::manifest::size_text(max)
            )));
        }
        bytes.extend_from_slice(&chunk);
    }
    if bytes.is_empty() {
        return Err(GateError::Invalid("choose a .porchapp file to install".into()));
    }
    confirmation(&gate, &visitor, &bytes).await
}

/// Keeps a verified package for the Install button and shows what it is
/// and what installing it would do (or why it may not be installed).
async fn confirmation(gate: &Gate, visitor: &Visitor, bytes: &[u8]) -> Result<Response, GateError> {
    let (staged, package) = match gate.apps.staging.put(bytes) {
        Ok(put) => put,
        Err(e) => return Err(GateError::Invalid(e.to_string())),
    };
    let plan = gate.apps.plan(&package).await;
    // What an update asks for that the installed version did not.
    let new_asks = match &plan {
        Ok(Plan::Upgrade { .. }) => gate.apps.new_asks(&package).await.map_err(|e| GateError::App(e.to_string()))?,
        _ => Vec::new(),
    };
    let (plan, refused) = match plan {
        Ok(Plan::New) => ("a new app".to_owned(), None),
        Ok(Plan::Reinstall) => (format!("brings {} back, with the data it had here", package.manifest.name), None),
        Ok(Plan::Upgrade { from }) => (format!("updates it from {from} to {}", package.manifest.version), None),
        Ok(Plan::Same) => ("nothing: this version is installed already".to_owned(), None),
        Err(e) => (String::new(), Some(e.to_string())),
    };
    let page = gate.pages.render(
        "admin_app_install.html",
        context! { app => describe(&package), staged, plan, refused, new_asks, ..visitor.page_context() },
    )?;
    Ok(page.into_response())
}

/// Admin → Apps → "Look for updates": reads every catalogue now.
pub async fn look(State(gate): State<Gate>, OwnerForm(_visitor, _form): OwnerForm<CsrfOnly>) -> Response {
    gate.apps.look_in_catalogues().await;
    Redirect::to("/admin/apps").into_response()
}

#[derive(Deserialize)]
pub struct FetchForm {
    csrf: String,
    id: String,
}

impl CsrfForm for FetchForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Admin → Apps → "Update" or "Get" on a catalogue's app: downloads the
/// package `porch app install ID` would, checks it against the signed
/// index, and shows the same confirmation as an upload.
pub async fn fetch(
    State(gate): State<Gate>,
    OwnerForm(visitor, form): OwnerForm<FetchForm>,
) -> Result<Response, GateError> {
    let found = match gate.apps.last_look() {
        Some((_, found)) => found,
        None => gate.apps.look_in_catalogues().await,
    };
    let invalid = |e: crate::apps::AppError| GateError::Invalid(e.to_string());
    let listing = gate.apps.listing_for(&form.id, &found).await.map_err(invalid)?;
    let (bytes, _) = gate.apps.catalogues.download(&listing).await.map_err(invalid)?;
    confirmation(&gate, &visitor, &bytes).await
}

#[derive(Deserialize)]
pub struct InstallForm {
    csrf: String,
    staged: String,
}

impl CsrfForm for InstallForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// The Install button under an uploaded package: the package is verified
/// again and installed exactly as `porch app install` would.
pub async fn app_install(
    State(gate): State<Gate>,
    OwnerForm(visitor, form): OwnerForm<InstallForm>,
) -> Result<Response, GateError> {
    let package = gate.apps.staging.get(&form.staged).map_err(|e| GateError::Invalid(e.to_string()))?;
    gate.apps.install_package(&package, visitor.actor()).await.map_err(|e| GateError::Invalid(e.to_string()))?;
    gate.apps.staging.remove(&form.staged);
    Ok(Redirect::to("/admin/apps").into_response())
}
