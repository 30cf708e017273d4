using System.Collections.Concurrent;
using System.Diagnostics;
using System.Reflection;
using System.Text;
using System.Text.Json.Nodes;
using BatchSync.LocalWorld;

namespace BatchSync.Playground;

/// <summary>
/// <c>--spoke</c> (issue 20): the example run by a tenant, account C, in a region other than the hub's, as spoke.yaml
/// sets it up. C's state machine (examples/spoke-other-region-state-machine.asl.json) puts its SubmitJob request on
/// its region's default bus; spoke.yaml's RelaySubmitJobRule forwards it to the hub's bus, whose SpokeSubmitJobRule
/// delivers it to SubmitJob. The hub's functions are the same build artifacts as in the other scenarios, each in its
/// own load context, given a hub function role's credentials as Lambda gives a function its role's
/// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN); they assume C's spoke role through
/// <see cref="StsGate"/> (moto grants every AssumeRole; the gate refuses what AWS would) and answer C's task with it,
/// in C's region. The world is <see cref="HubAndSpokes"/>, as the integration tests build it.
/// </summary>
public sealed partial class Playground
{
    private const string TenantC = "444455556666";
    private const string Stranger = "999988887777";
    private readonly ConcurrentDictionary<string, string?> _callers = new();
    private readonly object _decisionsGate = new();
    private int _decisionsShown;
    private StsGate? _gate;

    /// <summary>
    /// What a scenario starts from: the function artifacts (built unless --artifacts gives them; how long that took, and
    /// a clock from then) and moto's test credentials where none are set.
    /// </summary>
    private async Task<(string Root, string Artifacts, TimeSpan BuildTime, Stopwatch AfterBuild)> ArtifactsAndCredentialsAsync()
    {
        var root = SamTemplate.RepoRoot;
        var artifacts = options.Artifacts ?? Path.Combine(root, "artifacts", "playground");
        var buildTime = options.Artifacts is null ? await BuildAsync(root, artifacts) : TimeSpan.Zero;
        var afterBuild = Stopwatch.StartNew();
        foreach (var (name, value) in new[] { ("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing") })
        {
            if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable(name)))
            {
                Environment.SetEnvironmentVariable(name, value);
            }
        }
        return (root, artifacts, buildTime, afterBuild);
    }

    private async Task<int> RunSpokeAsync(Stopwatch started)
    {
        var (root, artifacts, buildTime, afterBuild) = await ArtifactsAndCredentialsAsync();

        // ---- the world: one moto, the hub in moto's default account, tenant C in its own account and region.
        _engine = cleanup.Add(new FakeDockerEngine());
        var moto = cleanup.Add(new MotoServer(new Dictionary<string, string> { ["DOCKER_HOST"] = _engine.DockerHost }));
        timeline.Section($"World: moto_server at {moto.Endpoint} (started here, stopped at the end)");
        timeline.Note($"a fake Docker engine at {_engine.DockerHost} answers moto's container calls, so its Batch walks every job state");
        await ConfigureMotoAsync(moto.Endpoint);

        var hubRegion = options.Region;
        var tenantRegion = hubRegion == "eu-west-1" ? "us-west-2" : "eu-west-1";
        const string stack = "batchsync-try";
        var world = cleanup.Add(await HubAndSpokes.CreateAsync(moto, hubRegion, stack));
        _world = world.Hub;
        _gate = world.Gate;
        timeline.Note($"hub     account {AwsWorld.Account}, region {hubRegion}, stack {stack} (template.yaml): table {_world.TableName}, " +
                      $"the spokes' bus {world.BusArn}");
        timeline.Note($"        on that bus: SpokeSubmitJobRule -> SubmitJob, SpokeExecutionStatusChangeRule -> Reconcile (patterns from template.yaml; SQS queues stand in for the functions)");
        var queues = await _world.CreateTemplateQueuesAsync();
        foreach (var (function, eventName, pattern) in SamTemplate.EventRules(stack))
        {
            var route = await _world.CreateRouteAsync(pattern, $"{stack}-{eventName}");
            _routes[function] = route;
            timeline.Note($"        rule {route.Rule} -> {function} (the hub's default bus; pattern from template.yaml)");
        }
        var c = await world.AddTenantAsync(TenantC, tenantRegion);
        timeline.Note($"tenant C account {c.Account}, region {c.Region} (spoke.yaml, HubRegion {hubRegion}): role {c.RoleArn}, trusting the hub's roles " +
                      $"{stack}-* with ExternalId {stack}");
        timeline.Note($"        rules on C's default bus: RelaySubmitJobRule and ForwardExecutionStatusChangeRule -> {world.BusArn}");
        timeline.Note($"        C's job queue {c.JobQueue} and job definition {c.JobDefinition} in the hub's Batch (named {c.Account}-*, as TenantJobQueues' default wants)");

        // ---- the hub's functions: the SAM build artifacts, as a hub function role, STS through the gate.
        var physical = new Dictionary<string, string>(queues) { ["JobTable"] = _world.TableName, ["AWS::AccountId"] = AwsWorld.Account };
        var environment = new Dictionary<string, string>(SamTemplate.FunctionEnvironment(stack, physical))
        {
            ["BATCHSYNC_TENANT_ACCOUNTS"] = c.Account, // the TenantAccounts parameter
        };
        foreach (var (name, value) in environment)
        {
            Environment.SetEnvironmentVariable(name, value);
        }
        _wire = cleanup.Add(new WireRecorder(moto.Endpoint));
        _wire.ResolveCaller = headers => CallerAsync(moto.Endpoint, headers);
        _wire.Recorded += ShowWireCall;
        Environment.SetEnvironmentVariable("AWS_REGION", hubRegion);
        Environment.SetEnvironmentVariable("AWS_ENDPOINT_URL", world.Gate.Endpoint);
        Environment.SetEnvironmentVariable("AWS_ENDPOINT_URL_SFN", _wire.Endpoint);
        Environment.SetEnvironmentVariable("AWS_ENDPOINT_URL_BATCH", null);
        Environment.SetEnvironmentVariable("AWS_ENDPOINT_URL_DYNAMODB", null);
        // As Lambda gives a function its role's credentials. The playground's own clients already hold theirs.
        foreach (var (name, value) in world.HubFunctionRole.Environment())
        {
            Environment.SetEnvironmentVariable(name, value);
        }
        timeline.Note($"functions' environment (template Globals, TenantAccounts={c.Account}): {string.Join(", ", environment.Select(e => $"{e.Key}={e.Value}"))}");
        timeline.Note($"  plus AWS_REGION={hubRegion}, AWS_ENDPOINT_URL={world.Gate.Endpoint} (the STS gate in front of moto: it refuses the AssumeRole calls AWS would refuse, moto refuses none),");
        timeline.Note($"  AWS_ENDPOINT_URL_SFN={_wire.Endpoint} (a pass-through that shows what BatchSync sends Step Functions, to which region, as whom: moto's GetCallerIdentity for the call's signing headers),");
        timeline.Note($"  and the credentials of {world.HubFunctionRole.Arn} (one hub function role for all four here; each has its own on AWS, all named {stack}-*)");
        LoadSpokeFunctions(artifacts, stack);

        // ---- the run.
        _jobName = "nightly-report";
        _queue = c.JobQueue;
        timeline.Section("Timeline");
        timeline.StartClock();
        var executionArn = await c.StartAsync($"{stack}-spoke-example", ExecutionInput.DeepClone().AsObject());
        timeline.Line("C's Step Fns", $"StartExecution in account {c.Account}, {c.Region}: {executionArn}");
        var request = await c.ScheduledRequestAsync(executionArn);
        var token = (string?)request["TaskToken"] ?? "";
        timeline.Line("C's Step Fns", $"RunBatchJob puts \"BatchSync SubmitJob\" on the default bus (events:putEvents.waitForTaskToken): JobName {(string?)request["JobName"]}, " +
                                      $"JobQueue {(string?)request["JobQueue"]}, TaskToken ({token.Length} characters)");
        timeline.Line("moto", $"puts the event on the default account's bus ({AwsWorld.Account}), not C's: the playground puts the same Detail on C's default bus in {c.Region}, as C");
        var relayed = await c.RelayAsync(request);
        timeline.Line("EventBridge", $"C's RelaySubmitJobRule -> the hub's bus {world.BusArn[(world.BusArn.LastIndexOf('/') + 1)..]} ({hubRegion}) -> SpokeSubmitJobRule -> SubmitJob (asynchronous)");
        timeline.Line("moto", $"its bus-to-bus forwarding drops the event's account and region: the playground puts back account {c.Account}, region {c.Region} (AWS keeps them)");
        var submitted = await InvokeAsync("SubmitJobFunction", relayed);
        ShowGateDecisions();
        if (submitted is null || submitted["JobId"] is null)
        {
            var failed = await c.WaitForExecutionAsync(executionArn, TimeSpan.FromSeconds(2));
            return Finish(new Outcome(false, $"SubmitJob did not submit C's job ({submitted?.ToJsonString() ?? "it failed"})", failed), afterBuild, buildTime, started);
        }
        var jobId = (string)submitted["JobId"]!;
        var proof = _wire.Calls.FirstOrDefault(call => call.Operation == "SendTaskHeartbeat");
        var proved = proof is { ErrorCode: null } && proof.SigningRegion == c.Region && (proof.Caller ?? "").StartsWith($"arn:aws:sts::{c.Account}:assumed-role/", StringComparison.Ordinal);
        timeline.Line("SubmitJob", proved
            ? $"proved the task is account C's (heartbeat as its spoke role in {c.Region}), recorded it, submitted job {jobId} to {c.JobQueue}"
            : $"submitted job {jobId} WITHOUT a heartbeat as C's spoke role in {c.Region} ({(proof is null ? "none seen" : $"{proof.Caller} in {proof.SigningRegion}: {proof.ErrorCode ?? "accepted"}")})");
        timeline.Line("SubmitJob", Compact(submitted));

        var (jobStatus, _, _) = await FollowJobAsync(jobId, executionArn);
        var final = await c.WaitForExecutionAsync(executionArn);
        timeline.Line("C's Step Fns", $"execution {(string?)final["status"]} (DescribeExecution as C in {c.Region})" + (final["error"] is { } error ? $", error {error}" : ""));

        // A claim from an account that is not a tenant: SubmitJob refuses it before any AssumeRole, before any job.
        var claim = request.DeepClone().AsObject();
        claim["ExecutionArn"] = $"arn:aws:states:{hubRegion}:{Stranger}:execution:someone-elses:run";
        var refusal = await RefusalAsync("SubmitJobFunction", claim);
        timeline.Line("SubmitJob", $"a request claiming account {Stranger}'s task (not a tenant): {refusal ?? "NOT refused"}");

        // Someone other than the hub's roles asks for C's spoke role, with the right ExternalId: the trust policy refuses.
        var strangerRole = await Accounts.ActAsAsync(moto.Endpoint, Stranger, "intruder", hubRegion);
        string intruder;
        try
        {
            await Sts.AssumeRoleAsync(world.Gate.Endpoint, hubRegion, strangerRole.ToAws(), c.RoleArn, "intruder", stack);
            intruder = "granted (it should not be)";
        }
        catch (Exception e) when (Sts.IsAccessDenied(e))
        {
            intruder = "AccessDenied";
        }
        timeline.Line("STS", $"{strangerRole.Arn} asks for C's spoke role (ExternalId {stack}): {intruder}");
        ShowGateDecisions();

        // ---- the report.
        var outcome = Succeeded(final, jobId);
        var job = (await _world.BatchAsync("DescribeJobs", new JsonObject { ["jobs"] = new JsonArray(jobId) }))["jobs"]![0]!;
        var tags = job["tags"]?.AsObject() ?? new JsonObject();
        var tenantTag = (string?)tags["BatchSyncTenant"];
        var answer = _wire.Calls.LastOrDefault(call => call.Operation == "SendTaskSuccess");
        var answeredAsC = answer is { ErrorCode: null } && answer.SigningRegion == c.Region && (answer.Caller ?? "").StartsWith($"arn:aws:sts::{c.Account}:assumed-role/", StringComparison.Ordinal);
        var ok = Report(outcome);

        timeline.Section("Who did what");
        timeline.Block($"tenant C:  account {c.Account}, region {c.Region} (its state machine, its execution, its Step Functions)");
        timeline.Block($"hub:       account {AwsWorld.Account}, region {hubRegion} (the functions, the table, Batch: job {jobId} {jobStatus})");
        timeline.Block($"proof:     {(proved ? $"SubmitJob's SendTaskHeartbeat as {proof!.Caller} in {proof.SigningRegion}, accepted (moto keeps tokens per account and region)" : "MISSING")}");
        timeline.Block($"answer:    {(answer is null ? "no SendTaskSuccess" : $"SendTaskSuccess as {answer.Caller} in {answer.SigningRegion}: {answer.ErrorCode ?? "accepted"}")}");
        var decisions = world.Gate.Decisions.ToList();
        timeline.Block($"AssumeRole (the gate's count): {decisions.Count(d => d.Granted)} granted, {decisions.Count(d => !d.Granted)} refused; " +
                       $"C's spoke role {world.Gate.Granted(c.RoleArn)} granted, {world.Gate.Refused(c.RoleArn)} refused");
        timeline.Block($"job tags:  {tags.ToJsonString()}");
        timeline.Block("");
        timeline.Block("The hub's functions ran from their build artifacts, each in its own load context, as on Lambda; moto's gaps the");
        timeline.Block("playground fills (DEVELOPERS.md, HubAndSpokes and moto's quirks): its Step Functions put C's event on the default");
        timeline.Block("account's bus, so the playground puts it on C's; its bus-to-bus forwarding drops the account and region, so the");
        timeline.Block("playground puts them back; it grants every AssumeRole, so STS goes through the gate; it takes heartbeats only from");
        timeline.Block("states with HeartbeatSeconds and times such a state out after 60 s without TimeoutSeconds, so C's task gets");
        timeline.Block("HeartbeatSeconds 600 and TimeoutSeconds 3600 (the example has HeartbeatSeconds 4500).");

        var problems = new List<string>();
        if (!proved)
        {
            problems.Add("no accepted heartbeat as C's spoke role in C's region before the submit");
        }
        if (!answeredAsC)
        {
            problems.Add($"the answer was not sent as C in {c.Region}");
        }
        if (tenantTag != c.Account)
        {
            problems.Add($"job tag BatchSyncTenant is {tenantTag ?? "missing"}, not {c.Account}");
        }
        if (refusal is null || !refusal.Contains("BatchSync.NotATenant", StringComparison.Ordinal))
        {
            problems.Add("the non-tenant claim was not refused with BatchSync.NotATenant");
        }
        if (intruder != "AccessDenied")
        {
            problems.Add("the gate let a stranger assume C's spoke role");
        }
        var summary = outcome.Summary + (ok && problems.Count == 0
            ? $", in account {c.Account} ({c.Region}), answered by the hub ({hubRegion}) as C's spoke role"
            : problems.Count > 0 ? $"; but {string.Join("; ", problems)}" : "");
        return Finish(new Outcome(ok && problems.Count == 0, summary, final), afterBuild, buildTime, started);
    }

    private int Finish(Outcome outcome, Stopwatch afterBuild, TimeSpan buildTime, Stopwatch started)
    {
        timeline.Block("");
        timeline.Block($"{(outcome.Expected ? "OK" : "FAILED")}: {outcome.Summary}. {afterBuild.Elapsed.TotalSeconds:0} s after the build" +
                       (options.Artifacts is null ? $" ({buildTime.TotalSeconds:0} s building)" : "") + $", {started.Elapsed.TotalSeconds:0} s in all.");
        if (!outcome.Expected)
        {
            DumpLogs();
        }
        return outcome.Expected ? 0 : 1;
    }

    /// <summary>The artifacts, each function constructed with its own name (the spoke role's session name: BatchSync-&lt;function&gt;).</summary>
    private void LoadSpokeFunctions(string artifacts, string stack)
    {
        foreach (var function in SamTemplate.Functions())
        {
            // Read when the function's host is made (its STS session name); Lambda sets it for each function.
            Environment.SetEnvironmentVariable("AWS_LAMBDA_FUNCTION_NAME", $"{stack}-{function}");
            var artifact = FunctionArtifact.Load(Path.Combine(artifacts, function), SamTemplate.Handler(function));
            var log = new FunctionLog(function.Replace("Function", ""), timeline, options.Logs);
            artifact.RedirectLogs(log);
            _functions[function] = artifact;
            _logs[function] = log;
        }
        // The four share this process's environment; their log lines would all carry the last name.
        Environment.SetEnvironmentVariable("AWS_LAMBDA_FUNCTION_NAME", null);
        timeline.Note($"functions loaded from {artifacts}/<Function> by their handler strings, each in its own load context (deps.json), as the dotnet10 runtime does");
    }

    /// <summary>The error name a function failed with ("BatchSync.NotATenant: ..."), or null if it did not fail.</summary>
    private async Task<string?> RefusalAsync(string function, JsonNode payload)
    {
        try
        {
            await using var output = await _functions[function].Handler(new MemoryStream(Encoding.UTF8.GetBytes(payload.ToJsonString())));
            return null;
        }
        catch (Exception e)
        {
            var inner = e is TargetInvocationException { InnerException: { } i } ? i : e;
            // The artifact's own BatchSyncException type (its load context's): its ErrorName, by reflection.
            var name = inner.GetType().GetProperty("ErrorName")?.GetValue(inner) as string;
            return $"{name ?? inner.GetType().Name}: {inner.Message}";
        }
    }

    /// <summary>The gate's AssumeRole decisions since the last call, one line each.</summary>
    private void ShowGateDecisions()
    {
        lock (_decisionsGate)
        {
            ShowGateDecisionsLocked();
        }
    }

    private void ShowGateDecisionsLocked()
    {
        foreach (var decision in _gate!.Decisions.Skip(_decisionsShown).ToList())
        {
            _decisionsShown++;
            timeline.Line("STS (gate)", $"AssumeRole {decision.RoleArn} by {decision.Caller}: {(decision.Granted ? "granted" : $"refused ({decision.Reason})")}");
        }
    }

    /// <summary>Who signed a call (moto's GetCallerIdentity with its signing headers, as the gate finds an AssumeRole's caller).</summary>
    private async Task<string?> CallerAsync(string motoEndpoint, IReadOnlyDictionary<string, string> headers)
    {
        var key = headers.GetValueOrDefault("Authorization") is { } authorization
            ? System.Text.RegularExpressions.Regex.Match(authorization, "Credential=([^/]+)/").Groups[1].Value
            : "";
        if (_callers.TryGetValue(key, out var known))
        {
            return known;
        }
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        using var message = new HttpRequestMessage(HttpMethod.Post, motoEndpoint + "/")
        {
            Content = new StringContent("Action=GetCallerIdentity&Version=2011-06-15", Encoding.UTF8, "application/x-www-form-urlencoded"),
        };
        foreach (var (name, value) in headers)
        {
            // moto routes by the signature's service (it checks no signature): this one is for STS.
            message.Headers.TryAddWithoutValidation(name, name == "Authorization" ? System.Text.RegularExpressions.Regex.Replace(value, @"/[a-z0-9-]+/aws4_request", "/sts/aws4_request") : value);
        }
        try
        {
            using var answer = await http.SendAsync(message);
            var arn = Sts.Find(System.Xml.Linq.XDocument.Parse(await answer.Content.ReadAsStringAsync()), "Arn")?.Value;
            return _callers[key] = arn;
        }
        catch (Exception)
        {
            return null;
        }
    }
}
