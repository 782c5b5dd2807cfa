//! Ignore rules: gitignore syntax, from the conduit's `--ignore` globs and
//! from a `.conduitignore` file at the top of either root. Both roots share
//! one rule set, so a path ignored on one side is ignored on the other (a
//! rule in the source's file never makes the destination's copy look
//! extraneous). Conduit's bookkeeping folder is always ignored.

use std::path::PathBuf;

use ignore::gitignore::{Gitignore, GitignoreBuilder};

/// An ignore file larger than this is refused (it is a list of rules).
pub const IGNORE_FILE_LIMIT: u64 = 1 << 20;

/// The name of the per-root ignore file.
pub const IGNORE_FILE: &str = ".conduitignore";

/// A root's ignore file: where it is (for messages) and its rules.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct IgnoreFile {
    /// The file's path, as messages name it.
    pub origin: PathBuf,
    /// Its rules, one per line.
    pub text: String,
}

/// A compiled rule set.
#[derive(Debug, Clone)]
pub struct Rules {
    matcher: Gitignore,
    /// What it was compiled from: a root on another device compiles the
    /// same rules there.
    globs: Vec<String>,
    files: Vec<IgnoreFile>,
}

impl Rules {
    /// Rules from `globs` plus the roots' `.conduitignore` files
    /// ([`crate::location::ignore_files`]). A malformed rule is an error
    /// naming it.
    pub fn new(globs: &[String], files: &[IgnoreFile]) -> anyhow::Result<Rules> {
        let mut builder = GitignoreBuilder::new("");
        builder.add_line(None, &format!("/{}/", crate::BOOKKEEPING_DIR))?;
        for glob in globs {
            builder
                .add_line(None, glob)
                .map_err(|e| anyhow::anyhow!("ignore rule {glob:?} is not valid: {e}"))?;
        }
        for file in files {
            for line in file.text.lines() {
                builder
                    .add_line(Some(file.origin.clone()), line)
                    .map_err(|e| {
                        anyhow::anyhow!(
                            "{}: rule {line:?} is not valid: {e}",
                            file.origin.display()
                        )
                    })?;
            }
        }
        Ok(Rules {
            matcher: builder.build()?,
            globs: globs.to_vec(),
            files: files.to_vec(),
        })
    }

    /// The globs and ignore files the rules were compiled from.
    pub fn source(&self) -> (&[String], &[IgnoreFile]) {
        (&self.globs, &self.files)
    }

    /// Check rules without a root (for `add`, before anything exists).
    pub fn check(globs: &[String]) -> anyhow::Result<()> {
        Rules::new(globs, &[]).map(|_| ())
    }

    /// Is `rel` (relative, `/`-separated) ignored? Parents are checked too,
    /// so a file inside an ignored folder is ignored.
    pub fn is_ignored(&self, rel: &str, is_dir: bool) -> bool {
        self.matcher
            .matched_path_or_any_parents(rel, is_dir)
            .is_ignore()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_apply_with_gitignore_meaning() {
        let rules =
            Rules::new(&["*.tmp".into(), "/build/".into(), "!keep.tmp".into()], &[]).unwrap();
        let rows = [
            ("a.tmp", false, true),
            ("dir/b.tmp", false, true),
            ("keep.tmp", false, false),
            ("build", true, true),
            ("build/x.o", false, true),
            ("src/build", true, false),
            (".conduit", true, true),
            (".conduit/trash/x", false, true),
            ("sub/.conduit", true, false),
            ("notes.txt", false, false),
        ];
        for (path, is_dir, ignored) in rows {
            assert_eq!(rules.is_ignored(path, is_dir), ignored, "{path}");
        }
    }

    #[test]
    fn a_bad_glob_is_named() {
        let err = Rules::check(&["a/[z-a]".into()]).unwrap_err().to_string();
        assert!(err.contains("a/[z-a]"), "{err}");
    }
}
