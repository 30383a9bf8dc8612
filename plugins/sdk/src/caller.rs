//! Who is calling, and the app's roles as a Rust enum checked against
//! `app.toml` when the app is compiled ([`roles!`](crate::roles)).

use wstd::http::HeaderMap;

/// An app's roles: the enum [`roles!`](crate::roles) makes. Compare roles
/// as values (`caller.role >= Role::Editor`), never as strings.
pub trait Role: Sized + Copy + PartialEq + std::fmt::Debug + 'static {
    /// Every role with its name in `app.toml`, in the manifest's order.
    const ALL: &'static [(&'static str, Self)];

    /// The role's name in `app.toml`.
    fn name(self) -> &'static str {
        Self::ALL.iter().find(|(_, r)| *r == self).map_or("", |(n, _)| n)
    }

    fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, r)| *r)
    }
}

/// The signed-in person a request comes from, read from the headers porch
/// sets (and strips from what the client sent, so they cannot be forged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller<R> {
    /// porch's id for the person, stable for as long as they exist.
    pub id: i64,
    pub name: String,
    /// Their role in this app.
    pub role: R,
    /// Whether they own this porch (owners may manage everything).
    pub is_owner: bool,
}

impl<R: Role> Caller<R> {
    /// The caller, or None when porch did not name one or named a role this
    /// build of the app does not have (an owner changed roles in between).
    pub fn from_headers(headers: &HeaderMap) -> Option<Caller<R>> {
        let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        Some(Caller {
            id: get("porch-user-id")?.parse().ok()?,
            name: percent_decode(get("porch-user-name")?),
            role: R::parse(get("porch-app-role")?)?,
            is_owner: get("porch-user-role") == Some("owner"),
        })
    }
}

/// porch percent-encodes names (they may hold any Unicode) in the header.
fn percent_decode(s: &str) -> String {
    String::from_utf8_lossy(&percent_encoding::percent_decode(s.as_bytes()).collect::<Vec<u8>>()).into_owned()
}

/// Declares the app's roles as an enum, in the order `app.toml` lists them
/// (the first is the one a grant gives by default; later ones are "more"),
/// and fails the build if they differ from `app.toml`'s `roles`:
///
/// ```ignore
/// porch_app::roles! {
///     pub enum Role { Viewer = "viewer", Contributor = "contributor" }
/// }
/// ```
#[macro_export]
macro_rules! roles {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        $vis enum $name { $($(#[$vmeta])* $variant),+ }

        impl $crate::Role for $name {
            const ALL: &'static [(&'static str, Self)] = &[$(($text, $name::$variant)),+];
        }

        const _: () = $crate::caller::check_manifest(
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/app.toml")),
            &[$($text),+],
        );
    };
}

/// Compile-time check behind [`roles!`]: the `roles = [...]` line of
/// `manifest` lists exactly `roles`, in order.
#[doc(hidden)]
pub const fn check_manifest(manifest: &str, roles: &[&str]) {
    let b = manifest.as_bytes();
    let Some(mut i) = find_roles(b) else { panic!("app.toml has no `roles = [...]` line") };
    let mut n = 0;
    loop {
        while i < b.len() && (b[i] == b' ' || b[i] == b'\n' || b[i] == b'\r' || b[i] == b'\t' || b[i] == b',') {
            i += 1;
        }
        if i >= b.len() {
            panic!("app.toml's `roles` list is not closed with ]");
        }
        if b[i] == b']' {
            break;
        }
        if b[i] != b'"' {
            panic!("app.toml's `roles` must be a list of \"quoted\" names");
        }
        let start = i + 1;
        let mut end = start;
        while end < b.len() && b[end] != b'"' {
            end += 1;
        }
        if n >= roles.len() || !same(b, start, end, roles[n].as_bytes()) {
            panic!("the roles in porch_app::roles! differ from app.toml's `roles` (names and order must match)");
        }
        n += 1;
        i = end + 1;
    }
    if n != roles.len() {
        panic!("the roles in porch_app::roles! differ from app.toml's `roles` (names and order must match)");
    }
}

/// Where the list after `roles = [` starts, for a line beginning `roles`.
const fn find_roles(b: &[u8]) -> Option<usize> {
    let mut line = 0;
    while line < b.len() {
        let mut i = line;
        while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
            i += 1;
        }
        if same(b, i, i + 5, b"roles") {
            let mut j = i + 5;
            while j < b.len() && (b[j] == b' ' || b[j] == b'\t') {
                j += 1;
            }
            if j < b.len() && b[j] == b'=' {
                j += 1;
                while j < b.len() && (b[j] == b' ' || b[j] == b'\t') {
                    j += 1;
                }
                if j < b.len() && b[j] == b'[' {
                    return Some(j + 1);
                }
            }
        }
        while line < b.len() && b[line] != b'\n' {
            line += 1;
        }
        line += 1;
    }
    None
}

const fn same(b: &[u8], start: usize, end: usize, want: &[u8]) -> bool {
    if end > b.len() || end - start != want.len() {
        return false;
    }
    let mut k = 0;
    while k < want.len() {
        if b[start + k] != want[k] {
            return false;
        }
        k += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_roles_line_is_found_and_compared() {
        check_manifest("id = \"x\"\nroles = [\"viewer\", \"editor\"]\n", &["viewer", "editor"]);
        check_manifest("roles=[\n  \"a\",\n  \"b\",\n]\n", &["a", "b"]);
        for wrong in [&["viewer"][..], &["editor", "viewer"], &["viewer", "editor", "x"]] {
            let result = std::panic::catch_unwind(|| check_manifest("roles = [\"viewer\", \"editor\"]", wrong));
            assert!(result.is_err(), "{wrong:?} passed");
        }
    }
}
