//! `mirror-types`: an example third-party policy. A one-way mirror that only
//! takes the file types you name and never deletes anything.
//!
//! - A source file of a wanted type (and not larger than `max-size`) is
//!   copied to the destination when the destination lacks it, and copied
//!   over a different destination version as `overwrite` says.
//! - Nothing is ever deleted: files deleted in the source stay in the
//!   destination, and files only the destination has are left alone.
//! - Other files, directories and symlinks are not touched (folders are
//!   created as needed for the files that are copied).
//!
//! Install it with `conduit policy install mirror_types.wasm` (see
//! docs/writing-policies.md), then
//! `conduit add photos ~/Pictures /mnt/backup/photos --policy mirror-types --set types=jpg,png`.

use conduit_policy::{
    Action, Context, Entry, Info, Kind, Policy, Scope, Settings, Side, act, indexed, spec,
};

pub struct MirrorTypes;

/// What `types` is when the user sets nothing: photos and videos.
pub const DEFAULT_TYPES: &str = "jpg,jpeg,png,gif,heic,webp,dng,mp4,mov";

impl Policy for MirrorTypes {
    fn describe() -> Info {
        Info {
            name: "mirror-types".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            summary: "One-way mirror of chosen file types that never deletes.".into(),
            options: vec![
                spec::text(
                    "types",
                    Some(DEFAULT_TYPES),
                    "File extensions to mirror, comma-separated, case-insensitive; `*` for every file.",
                ),
                spec::size(
                    "max-size",
                    None,
                    "Leave files larger than this in the source only (skipped, and reported).",
                ),
                spec::choice(
                    "overwrite",
                    &["newer", "always", "never"],
                    "newer",
                    "When the destination holds another version: replace it if the source's is newer, always, or never.",
                ),
            ],
            scope: Scope::Changes,
        }
    }

    fn plan(ctx: &Context, entries: &[Entry]) -> Result<Vec<Action>, String> {
        let types = Types::parse(ctx.text("types").unwrap_or(DEFAULT_TYPES));
        let max_size = ctx.size("max-size");
        let overwrite = ctx.text("overwrite").unwrap_or("newer");
        let mut plan = Vec::new();
        for (i, e) in indexed(entries) {
            let Some(a) = &e.source else {
                continue; // deleted in the source, or only in the destination: kept
            };
            if a.kind != Kind::File || !types.wants(e) {
                continue;
            }
            if max_size.is_some_and(|max| a.size > max) {
                plan.push(act::skip(i, "larger than max-size"));
                continue;
            }
            if a.digest.is_none() {
                plan.push(act::skip(i, "the source file could not be read"));
                continue;
            }
            let action = match &e.destination {
                None => act::copy(i, Side::Source),
                Some(b) if a.same_content(b) => act::accept(i),
                Some(b) if b.kind != Kind::File => act::skip(
                    i,
                    "the destination has a folder or link at this path; this mirror never deletes",
                ),
                Some(b) => match overwrite {
                    "always" => act::copy(i, Side::Source),
                    "newer" if a.mtime_ns > b.mtime_ns => act::copy(i, Side::Source),
                    "newer" => act::skip(i, "the destination's version is newer"),
                    _ => act::skip(i, "the destination holds another version (overwrite=never)"),
                },
            };
            plan.push(action);
        }
        Ok(plan)
    }
}

/// The wanted extensions.
struct Types {
    all: bool,
    extensions: Vec<String>,
}

impl Types {
    fn parse(text: &str) -> Types {
        let extensions: Vec<String> = text
            .split(|c: char| c == ',' || c.is_whitespace())
            .map(|t| t.trim().trim_start_matches("*.").trim_start_matches('.'))
            .filter(|t| !t.is_empty())
            .map(str::to_ascii_lowercase)
            .collect();
        Types {
            all: extensions.iter().any(|t| t == "*"),
            extensions,
        }
    }

    fn wants(&self, e: &Entry) -> bool {
        self.all || e.extension().is_some_and(|x| self.extensions.contains(&x))
    }
}

#[cfg(target_arch = "wasm32")]
conduit_policy::export_policy!(MirrorTypes);
