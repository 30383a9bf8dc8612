//! HTML from template files (minijinja, running inside the app): every
//! value is escaped in `.html` templates unless marked safe, so pages are
//! never assembled by hand. Filters: `date`, `datetime`, `iso` (Unix
//! seconds), `size` (bytes), `urlencode`.

use minijinja::{Environment, Value};
use serde::Serialize;

use crate::web::{Error, Reply};

/// The app's templates, embedded in its component by [`templates!`].
pub struct Templates {
    env: Environment<'static>,
    broken: Option<String>,
}

/// Embeds template files from the app's `templates/` folder:
/// `porch_app::templates!["base.html", "album.html"]`.
#[macro_export]
macro_rules! templates {
    ($($name:literal),* $(,)?) => {
        $crate::Templates::new(&[
            $(($name, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/", $name)))),*
        ])
    };
}

impl Templates {
    /// Templates from (name, source) pairs. A template that does not parse
    /// makes every page say so (and the app's own tests fail).
    pub fn new(files: &[(&'static str, &'static str)]) -> Templates {
        let mut env = Environment::new();
        env.add_filter("date", |secs: i64| crate::dates::date(secs));
        env.add_filter("datetime", |secs: i64| crate::dates::datetime(secs));
        env.add_filter("iso", |secs: i64| crate::dates::iso(secs));
        env.add_filter("size", |bytes: u64| crate::size_text(bytes));
        let mut broken = None;
        for (name, source) in files {
            if let Err(e) = env.add_template(name, source) {
                broken.get_or_insert_with(|| format!("{name}: {e}"));
            }
        }
        Templates { env, broken }
    }

    /// Whether there is a template called `name`.
    pub fn has(&self, name: &str) -> bool {
        self.env.get_template(name).is_ok()
    }

    /// The template `name` rendered with `context`, as text.
    pub fn render_text<S: Serialize>(&self, name: &str, context: S) -> Result<String, Error> {
        if let Some(broken) = &self.broken {
            return Err(Error::Http(format!("a template does not parse: {broken}")));
        }
        Ok(self.env.get_template(name)?.render(Value::from_serialize(&context))?)
    }

    /// The template `name` as an HTML page.
    pub fn render<S: Serialize>(&self, name: &str, context: S) -> Reply {
        crate::web::html(self.render_text(name, context)?)
    }
}
