#!/bin/sh
# Vendor the chat page's Markdown libraries from the npm registry into static/vendor/.
#
# Pinned versions; each package's browser build and its licence are copied as published
# (no bundler, no build step). Run from the repository root, then commit static/vendor/:
#     sh scripts/vendor_js.sh
# To upgrade, change a version below, run the script and look at the diff.
set -eu

MARKED=18.2.1
DOMPURIFY=3.5.0
HIGHLIGHT=11.11.1
# highlight.js languages offered (its "common" set is ~40; these cover most chat code).
LANGUAGES="bash css diff javascript json markdown python shell sql typescript xml yaml"

ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENDOR="$ROOT/static/vendor"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

fetch() { # name@version -> unpacked into $WORK/<name>/package
    dir="$WORK/$(echo "$1" | tr '/@' '__')"
    mkdir -p "$dir"
    (cd "$dir" && npm pack --silent "$1" >/dev/null && tar -xzf ./*.tgz)
    echo "$dir/package"
}

rm -rf "$VENDOR"
mkdir -p "$VENDOR/marked" "$VENDOR/dompurify" "$VENDOR/highlight/languages" "$VENDOR/highlight/styles"

pkg=$(fetch "marked@$MARKED")
cp "$pkg/lib/marked.esm.js" "$VENDOR/marked/marked.esm.js"
cp "$pkg/LICENSE" "$VENDOR/marked/LICENSE"

pkg=$(fetch "dompurify@$DOMPURIFY")
cp "$pkg/dist/purify.es.mjs" "$VENDOR/dompurify/purify.es.mjs"
cp "$pkg/LICENSE" "$VENDOR/dompurify/LICENSE"

pkg=$(fetch "@highlightjs/cdn-assets@$HIGHLIGHT")
cp "$pkg/es/core.min.js" "$VENDOR/highlight/core.min.js"
for lang in $LANGUAGES; do
    cp "$pkg/es/languages/$lang.min.js" "$VENDOR/highlight/languages/$lang.min.js"
done
# Class-based themes (no inline styles, so the page's CSP holds): light and dark.
cp "$pkg/styles/github.min.css" "$VENDOR/highlight/styles/github.min.css"
cp "$pkg/styles/github-dark.min.css" "$VENDOR/highlight/styles/github-dark.min.css"
cp "$pkg/LICENSE" "$VENDOR/highlight/LICENSE"

cat >"$VENDOR/VERSIONS" <<END
marked $MARKED
dompurify $DOMPURIFY
@highlightjs/cdn-assets $HIGHLIGHT ($LANGUAGES)
END
echo "vendored into $VENDOR:"
cat "$VENDOR/VERSIONS"
