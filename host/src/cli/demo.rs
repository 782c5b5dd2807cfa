//! `conduit demo`: generates small trees in a temporary folder and walks
//! through every built-in policy with the library API, printing what happens
//! on disk at each step. Everything it touches lives in that folder.

use std::path::{Path, PathBuf};

use super::{exit, human_bytes, sync_cmd::print_report};
use crate::api::{Host, Keep, NewConduit, SyncOptions};

pub(super) fn run(dir: Option<PathBuf>, out: super::Output) -> anyhow::Result<i32> {
    let temp;
    let dir = match dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir)?;
            dir
        }
        None => {
            temp = tempfile::tempdir()?;
            temp.path().to_path_buf()
        }
    };
    let demo = Demo {
        out,
        dir: dir.clone(),
        host: Host::open(&dir.join("home"))?,
    };
    println!(
        "Conduit demo in {} (removed at the end unless --dir was given)\n",
        dir.display()
    );
    let mut demo = demo;
    demo.replicate()?;
    demo.synchronize()?;
    demo.offload()?;
    demo.archive()?;
    println!(
        "\nDone. Every copy above was re-read and its BLAKE3 checked before anything depended on it."
    );
    Ok(exit::OK)
}

struct Demo {
    out: super::Output,
    dir: PathBuf,
    host: Host,
}

fn write(root: &Path, rel: &str, content: &[u8]) -> anyhow::Result<()> {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().expect("has a parent"))?;
    std::fs::write(path, content)?;
    Ok(())
}

/// Pseudo-random bytes, so the demo's files are not trivially compressible.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn step(text: &str) {
    println!("\n  -> {text}");
}

fn show(label: &str, root: &Path) -> anyhow::Result<()> {
    let mut files = Vec::new();
    list(root, root, &mut files)?;
    files.sort();
    println!(
        "     {label} ({}): {}",
        root.display(),
        if files.is_empty() {
            "(empty)".to_string()
        } else {
            files.join(", ")
        }
    );
    Ok(())
}

fn list(root: &Path, dir: &Path, out: &mut Vec<String>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let rel = path.strip_prefix(root)?.to_string_lossy().into_owned();
        if rel == crate::BOOKKEEPING_DIR {
            continue;
        }
        if entry.file_type()?.is_dir() {
            list(root, &path, out)?;
        } else {
            out.push(rel);
        }
    }
    Ok(())
}

impl Demo {
    fn roots(&self, name: &str) -> anyhow::Result<(PathBuf, PathBuf)> {
        let a = self.dir.join(name).join("source");
        let b = self.dir.join(name).join("destination");
        std::fs::create_dir_all(&a)?;
        std::fs::create_dir_all(&b)?;
        Ok((a, b))
    }

    fn sync(&mut self, name: &str) -> anyhow::Result<()> {
        let report = self.host.sync(name, &SyncOptions::default(), &|_| {})?;
        print!("     ");
        print_report(&report, self.out);
        Ok(())
    }

    fn add(
        &mut self,
        name: &str,
        a: &Path,
        b: &Path,
        policy: &str,
        options: &[(&str, &str)],
    ) -> anyhow::Result<()> {
        let mut new = NewConduit::new(name, a, b, policy);
        new.options = options
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.host.add(new)?;
        let set: Vec<String> = options
            .iter()
            .map(|(k, v)| format!(" --set {k}={v}"))
            .collect();
        println!(
            "  $ conduit add {name} {} {} --policy {policy}{}",
            a.display(),
            b.display(),
            set.concat()
        );
        Ok(())
    }

    fn replicate(&mut self) -> anyhow::Result<()> {
        println!("== replicate: a one-way mirror (backups) ==");
        let (a, b) = self.roots("replicate")?;
        for i in 0..12 {
            write(
                &a,
                &format!("photos/img-{i:02}.jpg"),
                &noise(i, 20_000 + i as usize * 1000),
            )?;
        }
        write(&a, "notes/todo.txt", b"buy milk\n")?;
        self.add("backup", &a, &b, "replicate", &[])?;
        step("first sync copies everything, each copy verified");
        self.sync("backup")?;
        step("edit a note, delete a photo, and let the backup drift (a stray file)");
        write(&a, "notes/todo.txt", b"buy milk\nwalk the dog\n")?;
        std::fs::remove_file(a.join("photos/img-03.jpg"))?;
        write(&b, "stray.tmp", b"not in the source")?;
        self.sync("backup")?;
        show("destination", &b)?;
        step("the deleted photo went to the destination's trash; restore it");
        self.host.restore(
            "backup",
            "photos/img-03.jpg",
            &crate::api::RestoreChoice::default(),
        )?;
        println!("     restored photos/img-03.jpg on both sides");
        step("a second sync has nothing to do");
        self.sync("backup")?;
        Ok(())
    }

    fn synchronize(&mut self) -> anyhow::Result<()> {
        println!("\n== synchronize: two-way, with real conflict handling ==");
        let (a, b) = self.roots("synchronize")?;
        for i in 0..6 {
            write(
                &a,
                &format!("docs/chapter-{i}.md"),
                format!("# Chapter {i}\n").as_bytes(),
            )?;
        }
        self.add("laptop", &a, &b, "synchronize", &[])?;
        self.sync("laptop")?;
        step(
            "edit chapter 1 on the source, add a file on the destination, rename chapter 2 on the source",
        );
        write(
            &a,
            "docs/chapter-1.md",
            b"# Chapter 1\nrewritten on the laptop\n",
        )?;
        write(&b, "docs/ideas.md", b"written on the desktop\n")?;
        std::fs::rename(a.join("docs/chapter-2.md"), a.join("docs/chapter-two.md"))?;
        self.sync("laptop")?;
        step(
            "now both sides edit chapter 4 differently: a conflict; keep-both keeps the newer under the name",
        );
        write(&a, "docs/chapter-4.md", b"# Chapter 4\nsource version\n")?;
        write(
            &b,
            "docs/chapter-4.md",
            b"# Chapter 4\ndestination version, written later\n",
        )?;
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(60);
        std::fs::File::options()
            .write(true)
            .open(b.join("docs/chapter-4.md"))?
            .set_modified(later)?;
        self.sync("laptop")?;
        show("source", &a)?;
        step("with conflict=manual both versions stay untouched until `conduit resolve`");
        self.host
            .set("laptop", &[("conflict".into(), "manual".into())])?;
        write(&a, "docs/chapter-5.md", b"# Chapter 5\nA\n")?;
        write(&b, "docs/chapter-5.md", b"# Chapter 5\nB\n")?;
        self.sync("laptop")?;
        for (path, reason) in self.host.conflicts("laptop")? {
            println!("     conflict: {path}: {reason}");
        }
        self.host
            .resolve("laptop", "docs/chapter-5.md", Keep::Source)?;
        println!(
            "     $ conduit resolve laptop docs/chapter-5.md --keep source  (the other version is in the trash)"
        );
        Ok(())
    }

    fn offload(&mut self) -> anyhow::Result<()> {
        println!("\n== offload: a smart cache, cold files leave the source ==");
        let (a, b) = self.roots("offload")?;
        for i in 0..8 {
            write(
                &a,
                &format!("videos/clip-{i}.mp4"),
                &noise(100 + i, 64 * 1024),
            )?;
            // Older clips were last used longer ago.
            let f = std::fs::File::options()
                .write(true)
                .open(a.join(format!("videos/clip-{i}.mp4")))?;
            let used =
                std::time::SystemTime::now() - std::time::Duration::from_secs(86_400 * (30 - i));
            f.set_times(
                std::fs::FileTimes::new()
                    .set_accessed(used)
                    .set_modified(used),
            )?;
        }
        self.add("cache", &a, &b, "offload", &[("max-local", "300K")])?;
        step(
            "everything is stored in the destination; the least recently used clips leave the source until 90% of max-local",
        );
        self.sync("cache")?;
        let offloaded = self.host.offloaded("cache")?;
        let listed: Vec<String> = offloaded
            .iter()
            .map(|(p, s)| format!("{p} ({})", human_bytes(*s)))
            .collect();
        println!("     offloaded: {}", listed.join(", "));
        step("bring one back on demand");
        let first = offloaded
            .first()
            .map(|(p, _)| p.clone())
            .unwrap_or_default();
        self.host.hydrate("cache", std::slice::from_ref(&first))?;
        println!("     $ conduit hydrate cache {first}: back in the source, verified");
        Ok(())
    }

    fn archive(&mut self) -> anyhow::Result<()> {
        println!("\n== archive: move to the destination, delete only after verifying ==");
        let (a, b) = self.roots("archive")?;
        for (i, month) in [(0u64, 1u32), (1, 2), (2, 2), (3, 7)] {
            let rel = format!("scans/2023-{month:02}-{i}.pdf");
            write(&a, &rel, &noise(200 + i, 10_000))?;
            let when = std::time::UNIX_EPOCH
                + std::time::Duration::from_secs(1_672_531_200 + u64::from(month) * 2_600_000);
            std::fs::File::options()
                .write(true)
                .open(a.join(&rel))?
                .set_modified(when)?;
        }
        self.add("shelf", &a, &b, "archive", &[("layout", "by-date")])?;
        self.sync("shelf")?;
        show("source", &a)?;
        show("destination", &b)?;
        Ok(())
    }
}
