#!/usr/bin/env python3
"""Lists the library's API symbols that have no `///` doc comment of their own.

Reads the symbol graphs written by `swift package dump-symbol-graph --minimum-access-level package
--skip-synthesized-members` and checks, per module:

- `public` and `open` symbols of every library module, and `package` symbols of the modules that are
  package-level only (BackupSupport);
- declared in this repository's `Sources/` (symbols of other packages, and compiler-synthesized ones
  without a source location, are not ours to document).

Not required to have their own comment (DocC shows the documentation they inherit):
- a member that implements a requirement of a protocol, or overrides a superclass member, whose
  documentation the symbol graph reports as inherited (`docComment.module` is another module, or the
  comment lies in another file than the symbol: e.g. `description` of `CustomStringConvertible`,
  `init(from:)` / `encode(to:)` of `Codable`, `<` of `Comparable`, a `Clock`'s `now`);
- members the compiler synthesizes (`Codable`, `Equatable`, `RawRepresentable`, memberwise
  initialisers), which have no location in our sources.

Prints `path:line: kind name` for each symbol that lacks a comment and exits 1 when there is any.
"""

import json
import os
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

PACKAGE_LEVEL_MODULES = {"BackupSupport"}
PUBLIC = {"public", "open"}


def path_of(uri: str) -> str:
    return unquote(urlparse(uri).path)


def main() -> int:
    if len(sys.argv) < 4:
        print("usage: check_doc_comments.py SYMBOLGRAPH_DIR REPO_ROOT MODULE...", file=sys.stderr)
        return 2
    graph_dir = Path(sys.argv[1])
    root = os.path.realpath(sys.argv[2])
    sources = os.path.join(root, "Sources") + os.sep
    modules = set(sys.argv[3:])

    missing = []
    checked = 0
    inherited = 0
    seen_modules = set()
    for file in sorted(graph_dir.glob("*.symbols.json")):
        # `Module.symbols.json`, or `Module@Other.symbols.json` for extensions of Other's types.
        module = file.name[: -len(".symbols.json")].split("@")[0]
        if module not in modules:
            continue
        seen_modules.add(module)
        graph = json.loads(file.read_text())
        required = PUBLIC | ({"package"} if module in PACKAGE_LEVEL_MODULES else set())
        for symbol in graph.get("symbols", []):
            if symbol.get("accessLevel") not in required:
                continue
            location = symbol.get("location")
            if not location:
                continue  # synthesized by the compiler
            source = os.path.realpath(path_of(location["uri"]))
            if not source.startswith(sources):
                continue
            kind = symbol["kind"]["identifier"]
            if kind == "module":
                continue
            checked += 1
            doc = symbol.get("docComment")
            if doc and any(line.get("text", "").strip() for line in doc.get("lines", [])):
                doc_module = doc.get("module")
                doc_uri = doc.get("uri")
                if (doc_module is not None and doc_module != module) or (
                    doc_uri is not None and os.path.realpath(path_of(doc_uri)) != source
                ):
                    inherited += 1
                continue
            line = location["position"]["line"] + 1
            name = ".".join(symbol.get("pathComponents", [])) or symbol["names"]["title"]
            missing.append((os.path.relpath(source, root), line, kind.replace("swift.", ""), name))

    absent = modules - seen_modules
    if absent:
        print(f"check-docs: no symbol graph for {', '.join(sorted(absent))} in {graph_dir}", file=sys.stderr)
        return 2
    for path, line, kind, name in sorted(missing):
        print(f"{path}:{line}: {kind} {name} has no doc comment")
    print(f"check-docs: {checked} API symbols in {len(modules)} modules, {inherited} documented by what they "
          f"implement, {len(missing)} without a doc comment")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
