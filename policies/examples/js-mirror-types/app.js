// mirror-types, in JavaScript: a one-way mirror of chosen file types that
// never deletes. A port of the Rust example in ../mirror-types that plans
// exactly as it does (the host's tests run both on the same table).
//
// Build (from the repository root), with componentize-qjs from npm:
//
//   npm install componentize-qjs@0.4.5
//   npx componentize-qjs --wit wit --world policy-component \
//       --js policies/examples/js-mirror-types/app.js --stub-wasi --sync \
//       -o mirror_types_js.wasm
//   conduit policy install mirror_types_js.wasm
//
// WIT types in JavaScript: records are objects with camelCase fields, enums
// are strings ("file"), variants are {tag, val}, option<T> is the value or
// null (undefined is accepted on the way out), 64-bit integers are BigInts,
// and a thrown error is the `err` of a result.

const DEFAULT_TYPES = "jpg,jpeg,png,gif,heic,webp,dng,mp4,mov";

function setting(context, name) {
  const s = context.settings.find((s) => s.name === name);
  return s == null ? undefined : s.value.val;
}

function wanted(text) {
  const exts = text
    .split(/[,\s]+/)
    .map((t) => t.trim().replace(/^\*\./, "").replace(/^\.+/, "").toLowerCase())
    .filter((t) => t.length > 0);
  return { every: exts.includes("*"), exts };
}

function extension(path) {
  const name = path.slice(path.lastIndexOf("/") + 1);
  const dot = name.lastIndexOf(".");
  return dot <= 0 ? undefined : name.slice(dot + 1).toLowerCase();
}

function sameContent(a, b) {
  if (a.kind !== b.kind) return false;
  if (a.kind === "directory") return true;
  return (
    a.digest != null &&
    b.digest != null &&
    a.digest.every((word, i) => word === b.digest[i])
  );
}

const copy = (i) => ({
  entry: i,
  operation: { tag: "copy", val: { from: "source", toPath: undefined } },
});
const skip = (i, reason) => ({ entry: i, operation: { tag: "skip", val: reason } });
const accept = (i) => ({ entry: i, operation: { tag: "accept" } });

export const policy = {
  describe() {
    return {
      name: "mirror-types-js",
      version: "0.1.0",
      summary: "One-way mirror of chosen file types that never deletes (JavaScript).",
      options: [
        {
          name: "types",
          type: { tag: "text" },
          default: { tag: "text", val: DEFAULT_TYPES },
          help: "File extensions to mirror, comma-separated, case-insensitive; `*` for every file.",
        },
        {
          name: "max-size",
          type: { tag: "size" },
          default: undefined,
          help: "Leave files larger than this in the source only (skipped, and reported).",
        },
        {
          name: "overwrite",
          type: { tag: "choice", val: ["newer", "always", "never"] },
          default: { tag: "choice", val: "newer" },
          help: "When the destination holds another version: replace it if the source's is newer, always, or never.",
        },
      ],
      scope: "changes",
    };
  },

  plan(context, entries) {
    const { every, exts } = wanted(setting(context, "types") ?? DEFAULT_TYPES);
    const maxSize = setting(context, "max-size");
    const overwrite = setting(context, "overwrite") ?? "newer";
    if (!["newer", "always", "never"].includes(overwrite)) {
      throw `unknown overwrite mode ${overwrite}`;
    }
    const plan = [];
    entries.forEach((e, i) => {
      const a = e.source;
      if (a == null || a.kind !== "file") return;
      if (!every && !exts.includes(extension(e.path))) return;
      if (maxSize != null && a.size > maxSize) {
        plan.push(skip(i, "larger than max-size"));
        return;
      }
      if (a.digest == null) {
        plan.push(skip(i, "the source file could not be read"));
        return;
      }
      const b = e.destination;
      if (b == null) plan.push(copy(i));
      else if (sameContent(a, b)) plan.push(accept(i));
      else if (b.kind !== "file")
        plan.push(skip(i, "the destination has a folder or link at this path; this mirror never deletes"));
      else if (overwrite === "always" || (overwrite === "newer" && a.mtimeNs > b.mtimeNs))
        plan.push(copy(i));
      else if (overwrite === "newer") plan.push(skip(i, "the destination's version is newer"));
      else plan.push(skip(i, "the destination holds another version (overwrite=never)"));
    });
    return plan;
  },
};
