//! Self-contained HTML report pages: one layout (`templates/base.html`: inline CSS with print
//! rules, the checkpoint the figures were computed from, no script, no external reference) and
//! one body template per report, rendered with minijinja, plus server-rendered SVG charts
//! ([`svg`]). The readiness page and the management-review pack use it.
//!
//! Templates are compiled into the binary and escaped automatically (`.html`); charts are passed
//! in as already-escaped markup ([`Markup`]). The same data gives the same bytes: nothing reads
//! the clock, the environment or a hash map's order.
//!
//! Why minijinja: templates stay plain Jinja files a reviewer can read and change without
//! touching Rust, it adds no procedural macros (build time on a shared 2-core machine), its
//! auto-escaping is on for `.html`, and a template error is a clear runtime error caught by the
//! unit tests, which render every template.

pub mod svg;

use minijinja::{Environment, Value};
use serde::Serialize;

/// Templates compiled into the binary: (name, text).
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../../templates/base.html")),
    (
        "readiness.html",
        include_str!("../../templates/readiness.html"),
    ),
    ("review.html", include_str!("../../templates/review.html")),
];

/// A page could not be rendered (a template bug: the unit tests render every template).
#[derive(Debug, thiserror::Error)]
#[error("cannot render page {template}: {message}")]
pub struct PageError {
    pub template: String,
    pub message: String,
}

/// HTML or SVG that is already escaped, inserted as is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Markup(pub String);

impl Serialize for Markup {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Value::from_safe_string(self.0.clone()).serialize(s)
    }
}

/// The checkpoint a page states, per origin.
#[derive(Debug, Clone, Serialize)]
pub struct PageCheckpoint {
    pub origin: String,
    pub run: u64,
    pub tree_size: u64,
    pub root: String,
}

/// What every page shows around its body.
#[derive(Debug, Clone, Serialize)]
pub struct PageFrame {
    /// The `<title>` and heading.
    pub title: String,
    /// One line under the heading (e.g. "as of 2027-01-01").
    pub subtitle: String,
    pub checkpoints: Vec<PageCheckpoint>,
    /// The tool and version that wrote the page.
    pub generator: String,
}

/// The tool and version every page names as its writer.
pub fn generator() -> String {
    format!("evidence-auditor {}", env!("CARGO_PKG_VERSION"))
}

fn environment() -> Result<Environment<'static>, PageError> {
    let mut env = Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    for (name, text) in TEMPLATES {
        env.add_template(name, text).map_err(|e| PageError {
            template: (*name).to_owned(),
            message: format!("{e:#}"),
        })?;
    }
    Ok(env)
}

/// Render `template` with the frame and the body's data (available as `page` and `data`).
pub fn render<T: Serialize>(
    template: &str,
    frame: &PageFrame,
    data: &T,
) -> Result<String, PageError> {
    let env = environment()?;
    let tmpl = env.get_template(template).map_err(|e| PageError {
        template: template.to_owned(),
        message: format!("{e:#}"),
    })?;
    tmpl.render(minijinja::context! {
        page => Value::from_serialize(frame),
        data => Value::from_serialize(data),
    })
    .map_err(|e| PageError {
        template: template.to_owned(),
        message: format!("{e:#}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles() {
        environment().unwrap();
    }

    #[test]
    fn markup_is_inserted_as_is_and_text_is_escaped() {
        let mut env = Environment::new();
        env.add_template("t.html", "{{ a }}|{{ b }}").unwrap();
        let out = env
            .get_template("t.html")
            .unwrap()
            .render(minijinja::context! {
                a => Value::from_serialize(Markup("<svg></svg>".into())),
                b => "<script>",
            })
            .unwrap();
        assert_eq!(out, "<svg></svg>|&lt;script&gt;");
    }
}
