#!/usr/bin/env bash
# The test command: lints the SAM template and runs every test (unit, integration and end-to-end against moto).
# Installs moto and cfn-lint with pip when they are missing; uses the ones already installed otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

MOTO_VERSION=5.2.1
CFN_LINT_VERSION=1.51.0

say() { printf '== %s\n' "$*"; }
fail() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

command -v dotnet >/dev/null 2>&1 || fail "the .NET SDK (dotnet) is not on PATH: install the .NET 10 SDK."
command -v python3 >/dev/null 2>&1 || fail "python3 is not on PATH: moto and cfn-lint need Python 3."

if ! command -v moto_server >/dev/null 2>&1; then
  say "moto_server not found: installing moto[server]==$MOTO_VERSION with pip"
  python3 -m pip install --quiet "moto[server]==$MOTO_VERSION" || fail "could not install moto with pip."
fi
if ! command -v cfn-lint >/dev/null 2>&1; then
  say "cfn-lint not found: installing cfn-lint==$CFN_LINT_VERSION with pip"
  python3 -m pip install --quiet "cfn-lint==$CFN_LINT_VERSION" || fail "could not install cfn-lint with pip."
fi
# libfaketime (Debian package faketime): a test runs the built Reconcile function minutes "later" under it.
if ! ls /usr/lib/*/faketime/libfaketime.so.1 >/dev/null 2>&1; then
  say "libfaketime not found: installing the Debian package faketime with apt-get"
  command -v apt-get >/dev/null 2>&1 || fail "libfaketime is missing and there is no apt-get: install libfaketime (Debian/Ubuntu package faketime)."
  if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
  { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq faketime; } >/dev/null \
    || fail "could not install faketime with apt-get."
fi
ls /usr/lib/*/faketime/libfaketime.so.1 >/dev/null 2>&1 || fail "libfaketime.so.1 is still missing after installing faketime."
command -v moto_server >/dev/null 2>&1 || fail "moto_server is still not on PATH after installing moto (is pip's bin folder on PATH?)."
command -v cfn-lint >/dev/null 2>&1 || fail "cfn-lint is still not on PATH after installing it (is pip's bin folder on PATH?)."

say "cfn-lint template.yaml (SnapStart None and PublishedVersions, tenants by account and by organization, service jobs on) and spoke.yaml"
scripts/lint-template-variants.sh

say "dotnet test Functions.sln"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
dotnet test Functions.sln --nologo 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e

# One closing line for the whole run, summed over the test projects.
sum() { grep -E '^(Passed|Failed)! ' "$log" | grep -Eo "$1: +[0-9]+" | awk '{ n += $2 } END { print n + 0 }'; }
passed=$(sum Passed)
failed=$(sum Failed)
projects=$(grep -Ec '^(Passed|Failed)! ' "$log" || true)
if [ "$projects" -lt 2 ]; then
  echo "ERROR: expected results from 2 test projects, saw $projects" >&2
  status=1
fi
echo "tests: ${passed:-0} passed, ${failed:-0} failed"
exit "$status"
