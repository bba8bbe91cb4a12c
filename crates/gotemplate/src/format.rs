//! docker's `--format` values: an optional `table` directive before the template.

use crate::{Error, Template};

/// A parsed `--format` value. `table {{.ID}}\t{{.Name}}` asks for a header row
/// and aligned columns (which the caller draws); the literal escapes `\t` and
/// `\n` in the value stand for a tab and a newline, as in docker's formatter.
#[derive(Debug, Clone)]
pub struct Format {
    table: bool,
    template: Template,
}

impl Format {
    /// Splits off a leading `table` word (alone or followed by whitespace)
    /// and parses the rest as a template.
    pub fn parse(format: &str) -> Result<Self, Error> {
        let (table, body) = match format.strip_prefix("table") {
            Some(rest) if rest.is_empty() || rest.starts_with(char::is_whitespace) => {
                (true, rest.trim())
            }
            _ => (false, format),
        };
        let body = body.replace("\\t", "\t").replace("\\n", "\n");
        Ok(Format {
            table,
            template: Template::parse(&body)?,
        })
    }

    /// Whether the value began with the `table` directive.
    pub fn is_table(&self) -> bool {
        self.table
    }

    /// The template after the directive.
    pub fn template(&self) -> &Template {
        &self.template
    }
}
