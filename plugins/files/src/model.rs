//! What Files keeps: folders (`folders/<id>`) shared like albums, and the
//! files in each (`files/<folder>/<id>`, the bytes in the blob
//! `<folder>/<id>`), and who may do what with them.

use porch_app::sharing::{self, Access, Invited, Share};
use porch_app::{Caller, Error, HostError, blobs, kv};
use serde::{Deserialize, Serialize};

porch_app::roles! {
    /// viewer: sees and downloads what is shared with them; contributor:
    /// also makes folders; editor: manages every folder.
    pub enum Role { Viewer = "viewer", Contributor = "contributor", Editor = "editor" }
}

pub const MAX_NAME: usize = 200;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Folder {
    pub id: String,
    pub name: String,
    pub owner: i64,
    pub owner_name: String,
    pub created_at: i64,
    pub shares: Vec<Share>,
    pub files: u64,
    pub bytes: u64,
    /// People invited to this folder who have not come yet.
    #[serde(default)]
    pub invited: Vec<Invited>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct File {
    pub id: String,
    pub name: String,
    pub size: u64,
    /// What the first bytes say it is; shown, never used to render it.
    pub kind: String,
    pub uploader: i64,
    pub uploader_name: String,
    pub uploaded_at: i64,
}

/// A folder or file id in a path: 16 lower-case hex digits. Anything else
/// is no such thing (404), before any lookup.
#[derive(Debug, Clone)]
pub struct Id(pub String);

impl std::str::FromStr for Id {
    type Err = ();

    fn from_str(s: &str) -> Result<Id, ()> {
        let ok = s.len() == 16 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if ok { Ok(Id(s.to_owned())) } else { Err(()) }
    }
}

/// Porch owners and the app's editors manage every folder.
pub fn is_admin(me: &Caller<Role>) -> bool {
    me.is_owner || me.role == Role::Editor
}

pub fn can_create(me: &Caller<Role>) -> bool {
    is_admin(me) || me.role >= Role::Contributor
}

fn folder_key(id: &str) -> String {
    format!("folders/{id}")
}

fn file_key(folder: &str, id: &str) -> String {
    format!("files/{folder}/{id}")
}

pub fn blob_name(folder: &str, id: &str) -> String {
    format!("{folder}/{id}")
}

/// A folder and what `me` may do with it; `NotFound` when it does not
/// exist for them, `Forbidden` when they may see it but need `needs`.
pub fn folder(me: &Caller<Role>, id: &Id, needs: Access) -> Result<(Folder, Access), Error> {
    let mut folder: Folder = kv::get_json(&folder_key(&id.0))?.ok_or(Error::NotFound)?;
    let mut access = sharing::access(me, is_admin(me), folder.owner, &folder.shares);
    // Someone who joined porch through this folder's invite, here for the
    // first time: the invite becomes their share.
    if access.is_none()
        && let Some(index) = sharing::claim(me, &folder.invited)?
    {
        let invite = folder.invited[index].invite;
        change_folder(&folder.id, |f| {
            sharing::accept(&mut f.invited, &mut f.shares, invite, me.id);
        })?;
        folder = kv::get_json(&folder_key(&id.0))?.ok_or(Error::NotFound)?;
        access = sharing::access(me, is_admin(me), folder.owner, &folder.shares);
    }
    let access = access.ok_or(Error::NotFound)?;
    if access < needs {
        return Err(Error::Forbidden(match needs {
            Access::Manage => "Only the folder's owner can do that.".into(),
            _ => "This folder is shared with you to look at; ask its owner to let you add files.".into(),
        }));
    }
    Ok((folder, access))
}

/// Every folder `me` may see, by name.
pub fn visible_folders(me: &Caller<Role>) -> Result<Vec<(Folder, Access)>, Error> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = kv::list_json::<Folder>("folders/", after.as_deref(), 500)?;
        let Some((last, _)) = page.last() else { break };
        after = Some(last.clone());
        for (_, folder) in page {
            if let Some(access) = sharing::access(me, is_admin(me), folder.owner, &folder.shares) {
                out.push((folder, access));
            }
        }
    }
    out.sort_by_key(|(f, _)| f.name.to_lowercase());
    Ok(out)
}

pub fn create_folder(me: &Caller<Role>, name: &str) -> Result<Folder, Error> {
    let folder = Folder {
        id: porch_app::random_id(),
        name: name.to_owned(),
        owner: me.id,
        owner_name: me.name.clone(),
        created_at: porch_app::dates::now(),
        shares: Vec::new(),
        files: 0,
        bytes: 0,
        invited: Vec::new(),
    };
    if !kv::create_json(&folder_key(&folder.id), &folder)? {
        return Err(Error::Conflict("Please try again.".into()));
    }
    Ok(folder)
}

/// Changes a folder's record without losing a change made at the same time.
pub fn change_folder(id: &str, change: impl Fn(&mut Folder)) -> Result<(), Error> {
    kv::update_json(&folder_key(id), |f: Option<Folder>| {
        let mut f = f?;
        change(&mut f);
        Some(f)
    })?;
    Ok(())
}

pub fn delete_folder(id: &str) -> Result<(), Error> {
    blobs::delete_prefix(&format!("{id}/"))?;
    kv::delete_prefix(&format!("files/{id}/"))?;
    kv::delete(&folder_key(id))?;
    Ok(())
}

/// The folder's files, by name.
pub fn files(folder: &str) -> Result<Vec<File>, Error> {
    let mut out = Vec::new();
    let mut after = None;
    let prefix = format!("files/{folder}/");
    loop {
        let page = kv::list_json::<File>(&prefix, after.as_deref(), 500)?;
        let Some((last, _)) = page.last() else { break };
        after = Some(last.clone());
        out.extend(page.into_iter().map(|(_, f)| f));
    }
    out.sort_by_key(|f| f.name.to_lowercase());
    Ok(out)
}

pub fn file(folder: &str, id: &Id) -> Result<File, Error> {
    kv::get_json(&file_key(folder, &id.0))?.ok_or(Error::NotFound)
}

/// Records an uploaded blob as a file and counts it in its folder. If that
/// fails, the blob goes too: nothing half-stored is left.
pub fn add_file(folder: &str, file: &File) -> Result<(), Error> {
    let recorded = kv::put_json(&file_key(folder, &file.id), file).map_err(Error::from).and_then(|()| {
        change_folder(folder, |f| {
            f.files += 1;
            f.bytes += file.size;
        })
    });
    if recorded.is_err() {
        let _ = kv::delete(&file_key(folder, &file.id));
        let _ = blobs::delete(&blob_name(folder, &file.id));
    }
    recorded
}

pub fn rename_file(folder: &str, file: &File, name: &str) -> Result<(), Error> {
    let mut renamed = file.clone();
    renamed.name = name.to_owned();
    Ok(kv::put_json(&file_key(folder, &file.id), &renamed)?)
}

pub fn delete_file(folder: &str, file: &File) -> Result<(), Error> {
    match blobs::delete(&blob_name(folder, &file.id)) {
        Ok(_) | Err(HostError::NotFound) => {}
        Err(e) => return Err(e.into()),
    }
    if kv::delete(&file_key(folder, &file.id))? {
        change_folder(folder, |f| {
            f.files = f.files.saturating_sub(1);
            f.bytes = f.bytes.saturating_sub(file.size);
        })?;
    }
    Ok(())
}

/// A name fit to show and to save as: no path, no control characters, not
/// hidden, at most `MAX_NAME` characters.
pub fn clean_name(raw: &str, fallback: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let name: String = base.chars().filter(|c| !c.is_control()).take(MAX_NAME).collect();
    let name = name.trim().trim_start_matches('.').trim().to_owned();
    if name.is_empty() { fallback.to_owned() } else { name }
}

/// What a file's first bytes say it is, for the list (never for serving:
/// every file is sent as a download).
pub fn kind_of(head: &[u8]) -> &'static str {
    let at = |i: usize, s: &[u8]| head.get(i..i + s.len()) == Some(s);
    if at(0, b"%PDF-") {
        "PDF document"
    } else if at(0, &[0xFF, 0xD8, 0xFF])
        || at(0, b"\x89PNG\r\n\x1a\n")
        || at(0, b"GIF8")
        || (at(0, b"RIFF") && at(8, b"WEBP"))
    {
        "picture"
    } else if at(0, b"PK\x03\x04") {
        "document or archive (zip)"
    } else if at(4, b"ftyp") {
        "video or picture"
    } else if head.iter().take(512).all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace() || *b >= 0x80) {
        "text"
    } else {
        "file"
    }
}
