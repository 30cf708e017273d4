using System.Text;
using System.Text.Json.Nodes;
using BatchSync.Composition;
using BatchSync.Domain;
using BatchSync.IntegrationTests.Moto;

namespace BatchSync.IntegrationTests;

/// <summary>
/// Issue 20 on moto with three accounts and two regions: the hub (moto's default account) and tenants B and C, one
/// spoke in the hub's region (its state machine invokes SubmitJob) and one in another (its request relayed through
/// the spokes' bus), each as spoke.yaml makes it, STS through a gate that refuses what AWS would. moto keeps Step
/// Functions per account and region, so a token answers only from its own: a call from the wrong one fails here as on
/// AWS. The tests play Lambda (they hand each function what its rule delivered) and Batch's events.
/// </summary>
[Collection(MotoCollection.Name)]
public sealed class SpokeEndToEndTests(MotoFixture moto)
{
    private const string Stranger = "310000009999";

    // Tenants B and C, their own in each test: IAM is global per account, and each test's hub (its stack name) is the
    // principal their spoke roles trust.
    private static (string B, string C) TenantsOf(int test) => ($"3100000{test:D2}001", $"3100000{test:D2}002");

    /// <summary>A hub and tenants B (in the hub's region) and C (in <paramref name="otherRegion"/>), with one warm function host.</summary>
    private async Task<(HubAndSpokes World, Tenant B, Tenant C, FunctionHost Host)> HubWithTenantsAsync(int test, string hubRegion, string otherRegion, string stack)
    {
        var world = await HubAndSpokes.CreateAsync(moto.Server, hubRegion, stack);
        var (b, c) = TenantsOf(test);
        return (world, await world.AddTenantAsync(b, hubRegion), await world.AddTenantAsync(c, otherRegion), world.NewHost());
    }

    private static byte[] Utf8(JsonNode node) => Encoding.UTF8.GetBytes(node.ToJsonString());

    /// <summary>A tenant's request as it reaches SubmitJob: the payload its task invoked with, or the event its relay delivered.</summary>
    private static async Task<(string ExecutionArn, byte[] Invocation)> StartAsync(Tenant tenant, string name)
    {
        var execution = await tenant.StartAsync(name);
        var request = await tenant.ScheduledRequestAsync(execution);
        Assert.Equal(execution, (string?)request["ExecutionArn"]);
        return (execution, Utf8(tenant.InHubRegion ? request : await tenant.RelayAsync(request)));
    }

    private static async Task<JsonObject> JobAsync(HubAndSpokes world, string jobId) =>
        (await world.Hub.BatchAsync("DescribeJobs", new JsonObject { ["jobs"] = new JsonArray(jobId) }))["jobs"]![0]!.AsObject();

    [Fact]
    public async Task A_spoke_in_the_hubs_region_succeeds_and_one_in_another_region_fails_each_answered_as_its_own_account()
    {
        var (world, b, c, host) = await HubWithTenantsAsync(1, "ap-southeast-1", "ap-southeast-2", "hubs-answers");
        using var _ = world;
        var (B, C) = (b.Account, c.Account);

        var (executionOfB, invocationOfB) = await StartAsync(b, "b-report");
        var submittedB = await host.Submitter().SubmitAsync(invocationOfB);
        var (executionOfC, invocationOfC) = await StartAsync(c, "c-report");
        var submittedC = await host.Submitter().SubmitAsync(invocationOfC);

        // Each job is its tenant's: tagged with its account, carrying its own Callback key, in its tenant's queue.
        var jobB = await JobAsync(world, submittedB.JobId!);
        var jobC = await JobAsync(world, submittedC.JobId!);
        Assert.Equal((B, C), ((string?)jobB["tags"]![Tenancy.TenantTag], (string?)jobC["tags"]![Tenancy.TenantTag]));
        var keyOfB = (string)jobB["parameters"]![TaskKey.CallbackKeyParameter]!;
        var keyOfC = (string)jobC["parameters"]![TaskKey.CallbackKeyParameter]!;
        Assert.NotEqual(keyOfB, keyOfC);

        // C's job names B's job: refused, with or without its own key; B's task still waits.
        await Assert.ThrowsAsync<CallbackNotAuthorizedException>(() => host.Callbacks().HandleAsync(Utf8(new JsonObject { ["JobId"] = submittedB.JobId, ["Error"] = "Forged" })));
        await Assert.ThrowsAsync<CallbackNotAuthorizedException>(() => host.Callbacks().HandleAsync(Utf8(new JsonObject { ["JobId"] = submittedB.JobId, ["Error"] = "Forged", ["CallbackKey"] = keyOfC })));
        Assert.Equal("RUNNING", (string?)(await b.WaitForExecutionAsync(executionOfB, TimeSpan.Zero))["status"]);

        // B's job succeeds (its Batch event): B's execution ends with the native output, answered as B in B's region.
        await host.JobEvents().HandleAsync(Utf8(await world.Hub.JobStateChangeEventAsync(submittedB.JobId!)));
        var endedB = await b.WaitForExecutionAsync(executionOfB);
        Assert.Equal("SUCCEEDED", (string?)endedB["status"]);
        Assert.Equal(submittedB.JobId, (string?)JsonNode.Parse((string)endedB["output"]!)!["job"]!["JobId"]);

        // C's job reports a failure with its key: C's execution fails, answered as C in its own region.
        var failed = await host.Callbacks().HandleAsync(Utf8(new JsonObject { ["JobId"] = submittedC.JobId, ["Error"] = "Report.Failed", ["Cause"] = "bad input", ["CallbackKey"] = keyOfC }));
        Assert.Equal("Failed", failed.Action);
        Assert.Equal("FAILED", (string?)(await c.WaitForExecutionAsync(executionOfC))["status"]);

        // One AssumeRole per spoke for the warm host, every one granted by the spoke's own trust policy.
        Assert.Equal((1, 1), (world.Gate.Granted(b.RoleArn), world.Gate.Granted(c.RoleArn)));
        Assert.Equal((1, 1), (world.Gate.Calls(b.RoleArn), world.Gate.Calls(c.RoleArn)));
    }

    [Fact]
    public async Task Lost_outcomes_are_delivered_by_the_sweep_and_a_spoke_whose_role_was_removed_is_answered_once_it_is_back()
    {
        var (world, b, c, host) = await HubWithTenantsAsync(2, "ca-central-1", "sa-east-1", "hubs-sweep");
        using var _ = world;
        var (B, C) = (b.Account, c.Account);
        var submitter = host.Submitter();
        var (executionOfB, invocationOfB) = await StartAsync(b, "b-lost");
        var (executionOfC, invocationOfC) = await StartAsync(c, "c-lost");
        await submitter.SubmitAsync(invocationOfB);
        await submitter.SubmitAsync(invocationOfC);
        // Both jobs ended (moto's simple Batch ends them at once); their events are lost.

        world.Gate.Deny(b.RoleArn);
        var logs = new StringWriter();
        var previous = BatchSync.Logging.Log.Sink;
        BatchSync.Logging.Log.Sink = logs;
        try
        {
            await Task.Delay(200); // the records fall due (the local world's sweep interval is 60 ms)
            var first = await world.NewHost().Reconciler().SweepAsync(new SweepRequest(1, 1));
            Assert.Equal(1, first.Delivered);
        }
        finally
        {
            BatchSync.Logging.Log.Sink = previous;
        }
        Assert.Equal("SUCCEEDED", (string?)(await c.WaitForExecutionAsync(executionOfC))["status"]);
        Assert.Equal("RUNNING", (string?)(await b.WaitForExecutionAsync(executionOfB, TimeSpan.Zero))["status"]);
        var unreachable = logs.ToString().Split('\n').Where(l => l.Contains("\"SpokeUnreachable\":1", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(unreachable);
        Assert.All(unreachable, l => Assert.Contains($"\"Account\":\"{B}\"", l));
        Assert.True(world.Gate.Refused(b.RoleArn) >= 1);

        world.Gate.Allow(b.RoleArn);
        await Task.Delay(200);
        var second = await world.NewHost().Reconciler().SweepAsync(new SweepRequest(1, 1));
        var recordOfB = await world.Hub.Store.FindOpenByExecutionAsync(executionOfB);
        Assert.True(second.Delivered == 1, $"{second} {string.Join(", ", recordOfB)}");
        Assert.Equal("SUCCEEDED", (string?)(await b.WaitForExecutionAsync(executionOfB))["status"]);
        var records = await world.Hub.Store.FindOpenByExecutionAsync(executionOfB);
        Assert.Empty(records);
    }

    [Fact]
    public async Task A_spokes_stop_terminates_its_own_jobs_and_a_tenant_cannot_stop_another_tenants()
    {
        var (world, b, c, host) = await HubWithTenantsAsync(3, "eu-west-3", "eu-north-1", "hubs-stops");
        using var _ = world;
        var (B, C) = (b.Account, c.Account);
        var (executionOfB, invocationOfB) = await StartAsync(b, "b-stop");
        var (executionOfC, invocationOfC) = await StartAsync(c, "c-stop");
        await host.Submitter().SubmitAsync(invocationOfB);
        await host.Submitter().SubmitAsync(invocationOfC);

        // C forwards a status change naming B's execution under one of its own state machines: the hub's rule
        // delivers it (C's rule matches its own prefix), and Reconcile leaves B's task alone: the event is C's.
        var forged = await c.SendStatusChangeForAsync(executionOfB, "ABORTED");
        Assert.NotNull(forged);
        var ignored = await host.Reconciler().HandleAsync(Utf8(forged!));
        Assert.Equal(0, ignored.Terminated);
        Assert.NotEmpty(await world.Hub.Store.FindOpenByExecutionAsync(executionOfB));

        foreach (var (tenant, execution) in new[] { (b, executionOfB), (c, executionOfC) })
        {
            await tenant.World.SfnAsync("StopExecution", new JsonObject { ["executionArn"] = execution });
            var stop = await tenant.SendStatusChangeAsync(execution, "ABORTED");
            Assert.NotNull(stop);
            var stopped = await host.Reconciler().HandleAsync(Utf8(stop!));
            Assert.Equal(1, stopped.Terminated);
            Assert.Empty(await world.Hub.Store.FindOpenByExecutionAsync(execution));
        }
    }

    [Fact]
    public async Task A_payload_claiming_a_stranger_or_another_tenants_task_submits_nothing_and_the_true_claims_run()
    {
        var (world, b, c, host) = await HubWithTenantsAsync(4, "us-east-2", "us-west-2", "hubs-claims");
        using var _ = world;
        var (B, C) = (b.Account, c.Account);
        var executionOfC = await c.StartAsync("c-claimed");
        var requestOfC = await c.ScheduledRequestAsync(executionOfC);

        var asStranger = requestOfC.DeepClone().AsObject();
        asStranger["ExecutionArn"] = $"arn:aws:states:us-east-2:{Stranger}:execution:sm:run";
        await Assert.ThrowsAsync<NotATenantException>(() => host.Submitter().SubmitAsync(Utf8(asStranger)));

        // B's account and region, C's token: the heartbeat as B's role is refused (InvalidToken), so nothing is done.
        var asB = requestOfC.DeepClone().AsObject();
        asB["ExecutionArn"] = $"arn:aws:states:{b.Region}:{B}:execution:sm:run";
        asB["JobQueue"] = b.JobQueue;
        asB["JobDefinition"] = b.JobDefinition;
        await Assert.ThrowsAsync<OwnershipNotProvenException>(() => host.Submitter().SubmitAsync(Utf8(asB)));

        foreach (var queue in new[] { b.JobQueue, c.JobQueue })
        {
            var listed = await world.Hub.BatchAsync("ListJobs", new JsonObject { ["jobQueue"] = queue, ["filters"] = new JsonArray(new JsonObject { ["name"] = "JOB_NAME", ["values"] = new JsonArray("*") }) });
            Assert.Empty(listed["jobSummaryList"]!.AsArray());
        }
        Assert.Null(await world.Hub.Store.GetAsync(TaskKey.For((string)requestOfC["TaskToken"]!)));
        Assert.Equal("RUNNING", (string?)(await c.WaitForExecutionAsync(executionOfC, TimeSpan.Zero))["status"]);
        Assert.Equal(0, world.Gate.Calls(c.RoleArn));

        // The same tasks, claimed truly, run: C's (another region, relayed) succeeds by its job's event, and B's (the
        // hub's region) fails by its job's report.
        var submittedC = await host.Submitter().SubmitAsync(Utf8(await c.RelayAsync(requestOfC)));
        await host.JobEvents().HandleAsync(Utf8(await world.Hub.JobStateChangeEventAsync(submittedC.JobId!)));
        Assert.Equal("SUCCEEDED", (string?)(await c.WaitForExecutionAsync(executionOfC))["status"]);
        var (executionOfB, invocationOfB) = await StartAsync(b, "b-claimed");
        var submittedB = await host.Submitter().SubmitAsync(invocationOfB);
        var keyOfB = (string)(await JobAsync(world, submittedB.JobId!))["parameters"]![TaskKey.CallbackKeyParameter]!;
        await host.Callbacks().HandleAsync(Utf8(new JsonObject { ["JobId"] = submittedB.JobId, ["Error"] = "Report.Failed", ["CallbackKey"] = keyOfB }));
        Assert.Equal("FAILED", (string?)(await b.WaitForExecutionAsync(executionOfB))["status"]);
    }
}
