#!/usr/bin/env bash
# Installs the pinned tools the Kubernetes manifests are built with into .local/bin
# (git-ignored). Idempotent: does nothing when the pinned version is already there.
#   deploy/k8s/tools.sh          # install if missing, print the binary's path
# Needs Go (go install builds kustomize from the Go module proxy).
set -euo pipefail

KUSTOMIZE_VERSION="v5.8.1"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bin_dir="${repo_root}/.local/bin"
kustomize="${bin_dir}/kustomize"

if [[ -x "${kustomize}" ]] && [[ "$("${kustomize}" version 2>/dev/null)" == "${KUSTOMIZE_VERSION}" ]]; then
  echo "${kustomize}"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  echo "deploy/k8s/tools.sh: Go is needed to install kustomize ${KUSTOMIZE_VERSION}" >&2
  exit 1
fi

mkdir -p "${bin_dir}"
echo "installing kustomize ${KUSTOMIZE_VERSION} into ${bin_dir}" >&2
GOBIN="${bin_dir}" go install "sigs.k8s.io/kustomize/kustomize/v5@${KUSTOMIZE_VERSION}"
echo "${kustomize}"
