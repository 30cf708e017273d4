# Build targets for `sam build` (BuildMethod: makefile): SAM runs `make build-<LogicalId>` with ARTIFACTS_DIR set.
# No Amazon.Lambda.Tools and no Docker needed: a plain `dotnet publish` of the function's class library.
# CI runs these same targets (see .ci/run) and checks each artifact.

CONFIGURATION ?= Release
# ReadyToRun code for the template's Architecture parameter: precompiled code cuts cold starts (BENCHMARKS.md).
# SAM passes make only ARTIFACTS_DIR and its own environment (aws-lambda-builders, workflows/custom_make/actions.py),
# never the function's architecture, so say it in the environment as well:
#   ARCHITECTURE=arm64 sam build && sam deploy --parameter-overrides Architecture=arm64
ARCHITECTURE ?= x86_64
ifeq ($(ARCHITECTURE),arm64)
RUNTIME ?= linux-arm64
else ifeq ($(ARCHITECTURE),x86_64)
RUNTIME ?= linux-x64
else
$(error ARCHITECTURE must be x86_64 or arm64 (the template's Architecture parameter), not "$(ARCHITECTURE)")
endif
# Crossgen2 also precompiles the generic code our assemblies and the AWS SDK's instantiate over the framework's types
# (async state machine builders, Dictionary<string, AttributeValue>, ...), which plain ReadyToRun leaves to the JIT:
# about 350 of the ~800 methods jitted before SubmitJob's first response (BENCHMARKS.md §1). Code that inlined a
# framework method carries a Check_IL_Body fixup: if the runtime's framework differs there, that code is not used and
# the method is jitted as before — never wrong code.
R2R_GENERICS = '-p:PublishReadyToRunCrossgen2ExtraArgs=--non-local-generics-module:*%3B--opt-cross-module:*'
PUBLISH = dotnet publish --nologo -c $(CONFIGURATION) -r $(RUNTIME) --self-contained false -p:PublishReadyToRun=true \
	$(R2R_GENERICS) -p:GenerateDocumentationFile=false -p:EnforceCodeStyleInBuild=false -o "$(ARTIFACTS_DIR)"

build-SubmitJobFunction:
	$(PUBLISH) functions/SubmitJob/SubmitJob.csproj

build-JobStateChangeFunction:
	$(PUBLISH) functions/JobStateChange/JobStateChange.csproj

build-CallbackFunction:
	$(PUBLISH) functions/Callback/Callback.csproj

build-ReconcileFunction:
	$(PUBLISH) functions/Reconcile/Reconcile.csproj

.PHONY: build-SubmitJobFunction build-JobStateChangeFunction build-CallbackFunction build-ReconcileFunction
