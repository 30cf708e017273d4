# Build targets for `sam build` (BuildMethod: makefile): SAM runs `make build-<LogicalId>` with ARTIFACTS_DIR set.
# No Amazon.Lambda.Tools and no Docker needed: a plain `dotnet publish` of the function's class library.
# CI runs these same targets (see .ci/run) and checks each artifact.

CONFIGURATION ?= Release
# ReadyToRun for linux-x64 (the template's x86_64 architecture): precompiled code cuts cold starts (BENCHMARKS.md).
RUNTIME ?= linux-x64
PUBLISH = dotnet publish --nologo -c $(CONFIGURATION) -r $(RUNTIME) --self-contained false -p:PublishReadyToRun=true \
	-p:GenerateDocumentationFile=false -o "$(ARTIFACTS_DIR)"

build-SubmitJobFunction:
	$(PUBLISH) functions/SubmitJob/SubmitJob.csproj

build-JobStateChangeFunction:
	$(PUBLISH) functions/JobStateChange/JobStateChange.csproj

build-CallbackFunction:
	$(PUBLISH) functions/Callback/Callback.csproj

build-ReconcileFunction:
	$(PUBLISH) functions/Reconcile/Reconcile.csproj

.PHONY: build-SubmitJobFunction build-JobStateChangeFunction build-CallbackFunction build-ReconcileFunction
