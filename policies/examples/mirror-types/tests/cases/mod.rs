//! The semantics of `mirror-types` as one table. Shared by this crate's
//! tests and by the host's test of the Python port of the same policy
//! (`policies/examples/python-mirror-types`): both must plan identically.

use conduit_policy::testing::{
    Case, DAY, NOW, dir, entry, file, file_at, file_sized, symlink, unreadable,
};

pub fn cases() -> Vec<Case> {
    vec![
        Case::new("a new photo is copied")
            .entry(entry("a.jpg").source(file("x")))
            .expect(&["a.jpg: copy from source"]),
        Case::new("other types are left alone")
            .entry(entry("notes.txt").source(file("y")))
            .entry(entry("Makefile").source(file("z")))
            .entry(entry(".profile").source(file("p")))
            .expect(&[]),
        Case::new("extensions are case-insensitive")
            .entry(entry("DCIM/IMG_1.JPG").source(file("x")))
            .expect(&["DCIM/IMG_1.JPG: copy from source"]),
        Case::new("types can be chosen")
            .set("types", "txt, .md")
            .entry(entry("a.jpg").source(file("x")))
            .entry(entry("b.md").source(file("y")))
            .entry(entry("c.txt").source(file("z")))
            .expect(&["b.md: copy from source", "c.txt: copy from source"]),
        Case::new("types=* takes every file")
            .set("types", "*")
            .entry(entry("notes.txt").source(file("y")))
            .expect(&["notes.txt: copy from source"]),
        Case::new("a deletion in the source is not propagated")
            .entry(entry("a.jpg").base(file("x")).destination(file("x")))
            .expect(&[]),
        Case::new("files only the destination has stay")
            .entry(entry("b.jpg").destination(file("z")))
            .expect(&[]),
        Case::new("equal content is recorded as in sync")
            .entry(entry("a.jpg").source(file("x")).destination(file("x")))
            .expect(&["a.jpg: accept"]),
        Case::new("a photo deleted from the destination is restored")
            .entry(entry("a.jpg").base(file("x")).source(file("x")))
            .expect(&["a.jpg: copy from source"]),
        Case::new("overwrite=newer: a newer source version replaces the destination's")
            .entry(
                entry("a.jpg")
                    .base(file("x"))
                    .source(file_at("x2", NOW))
                    .destination(file("x")),
            )
            .expect(&["a.jpg: copy from source"]),
        Case::new("overwrite=newer: a newer destination edit is kept")
            .entry(
                entry("a.jpg")
                    .base(file("x"))
                    .source(file("x"))
                    .destination(file_at("edited", NOW)),
            )
            .expect(&["a.jpg: skip"]),
        Case::new("overwrite=always: the source wins")
            .set("overwrite", "always")
            .entry(
                entry("a.jpg")
                    .base(file("x"))
                    .source(file("x"))
                    .destination(file_at("edited", NOW)),
            )
            .expect(&["a.jpg: copy from source"]),
        Case::new("overwrite=never: the destination's version stays")
            .set("overwrite", "never")
            .entry(
                entry("a.jpg")
                    .base(file("x"))
                    .source(file_at("x2", NOW))
                    .destination(file_at("x", NOW - 2 * DAY)),
            )
            .expect(&["a.jpg: skip"]),
        Case::new("max-size skips larger files")
            .set("max-size", "1K")
            .entry(entry("big.mp4").source(file_sized("big", 4096)))
            .entry(entry("small.jpg").source(file_sized("small", 1024)))
            .expect(&["big.mp4: skip", "small.jpg: copy from source"]),
        Case::new("an unreadable source file is skipped")
            .entry(entry("a.jpg").source(unreadable()))
            .expect(&["a.jpg: skip"]),
        Case::new("directories and symlinks are not mirrored")
            .entry(entry("album.jpg").source(dir()))
            .entry(entry("link.jpg").source(symlink("a.jpg")))
            .expect(&[]),
        Case::new("a folder in the way is never deleted")
            .entry(entry("a.jpg").source(file("x")).destination(dir()))
            .expect(&["a.jpg: skip"]),
        Case::new("an undeclared option is refused")
            .set("colour", "blue")
            .expect_error("no option `colour`"),
        Case::new("a value outside the choices is refused")
            .set("overwrite", "sometimes")
            .expect_error("one of newer, always, never"),
    ]
}
