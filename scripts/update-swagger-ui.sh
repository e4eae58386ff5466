#!/usr/bin/env bash
# Refresh the vendored Swagger UI assets from the npm package swagger-ui-dist.
# Usage: bash scripts/update-swagger-ui.sh [VERSION]   (default: the newest release)
set -euo pipefail
cd "$(dirname "$0")/.."
version="${1:-latest}"
target=src/planfeed/http/static/swagger
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "swagger-ui-dist@${version}" >/dev/null && tar xzf swagger-ui-dist-*.tgz)
resolved="$(node -p "require('$work/package/package.json').version")"
for file in swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt swagger-ui.css \
    favicon-32x32.png LICENSE NOTICE; do
    cp "$work/package/$file" "$target/$file"
done
sed -i -E "s/^Version: .*/Version: ${resolved}/" "$target/README.md"
echo "swagger-ui-dist ${resolved} copied into ${target}; run tests/browser to check it renders"
