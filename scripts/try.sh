#!/usr/bin/env bash
# The try command: the README's state machine end to end on this machine, without AWS (tools/BatchSync.Playground).
# Builds the four functions as `sam build` does, starts moto_server on a free 127.0.0.1 port, runs a job through every
# state and prints the timeline and the execution's output. Options: --fail, --result, --stop, --spoke (the state
# machine in a tenant's account and another region, relayed to the hub as spoke.yaml does), --service-job (a SageMaker
# Training job queued through Batch, with the local world's service-job stand-in in front of moto), --endpoint URL, --help.
# Installs what the test command installs (moto and cfn-lint with pip) when it is missing, and nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."

MOTO_VERSION=5.2.1
CFN_LINT_VERSION=1.51.0

say() { printf '== %s\n' "$*"; }
fail() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

command -v dotnet >/dev/null 2>&1 || fail "the .NET SDK (dotnet) is not on PATH: install the .NET 10 SDK."
command -v python3 >/dev/null 2>&1 || fail "python3 is not on PATH: moto and cfn-lint need Python 3."
command -v make >/dev/null 2>&1 || fail "make is not on PATH: the functions are built with the SAM build targets (Makefile)."

own_moto=1
for arg in "$@"; do [ "$arg" = "--endpoint" ] && own_moto=0; done
if [ "$own_moto" = 1 ] && ! command -v moto_server >/dev/null 2>&1; then
  say "moto_server not found: installing moto[server]==$MOTO_VERSION with pip"
  python3 -m pip install --quiet "moto[server]==$MOTO_VERSION" || fail "could not install moto with pip."
  command -v moto_server >/dev/null 2>&1 || fail "moto_server is still not on PATH after installing moto (is pip's bin folder on PATH?)."
fi
# The playground reads template.yaml with cfn-lint's decoder, as the tests do.
if ! python3 -c 'import cfnlint.decode' >/dev/null 2>&1; then
  say "cfn-lint not found: installing cfn-lint==$CFN_LINT_VERSION with pip"
  python3 -m pip install --quiet "cfn-lint==$CFN_LINT_VERSION" || fail "could not install cfn-lint with pip."
fi

dotnet build tools/BatchSync.Playground --nologo -v quiet -c Release -o artifacts/playground-tool >/dev/null \
  || { dotnet build tools/BatchSync.Playground --nologo -v quiet -c Release -o artifacts/playground-tool; fail "the playground did not build."; }
exec dotnet artifacts/playground-tool/batchsync-playground.dll "$@"
