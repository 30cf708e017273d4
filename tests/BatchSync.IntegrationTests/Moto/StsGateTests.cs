using System.Text.Json.Nodes;

namespace BatchSync.IntegrationTests.Moto;

/// <summary>
/// <see cref="StsGate"/>: AssumeRole as AWS refuses it (role missing, caller untrusted, wrong ExternalId, role removed),
/// where moto grants every AssumeRole (/work/notes/moto-spoke-facts.md §a).
/// </summary>
[Collection(MotoCollection.Name)]
public sealed class StsGateTests(MotoFixture moto)
{
    private const string Hub = "210000000001";
    private const string Spoke = "210000000002";
    private const string Stranger = "210000000003";
    private const string HubStack = "batchsync-hub";
    private const string RoleName = "BatchSyncSpoke";

    [Fact]
    public async Task AssumeRole_through_the_gate_is_granted_only_as_the_role_trust_policy_says()
    {
        var endpoint = moto.Server.Endpoint;
        using var gate = new StsGate(endpoint);
        var spokeAdmin = await Accounts.WorldAsync(endpoint, Spoke, "eu-west-1");
        var roleArn = await spokeAdmin.CreateRoleAsync(RoleName, SpokeWorld.HubTrustPolicy(Hub, HubStack));
        Assert.Equal($"arn:aws:iam::{Spoke}:role/{RoleName}", roleArn);

        // The hub's function role (a session of <stack>-SubmitJob in the hub account), calling STS through the gate.
        var hubFunction = (await Accounts.WorldAsync(endpoint, Hub, "us-east-1", $"{HubStack}-SubmitJob")).Through(gate.Endpoint);
        var otherHubRole = (await Accounts.WorldAsync(endpoint, Hub, "us-east-1", "someone-else")).Through(gate.Endpoint);
        var stranger = (await Accounts.WorldAsync(endpoint, Stranger, "us-east-1", $"{HubStack}-SubmitJob")).Through(gate.Endpoint);

        // Allowed: the credentials act as the spoke account.
        var granted = await hubFunction.AssumeRoleAsync(roleArn, "BatchSync-SubmitJob", externalId: HubStack);
        Assert.Equal(Spoke, granted.Account);
        var asSpoke = new SpokeWorld(gate.Endpoint, "eu-west-1", granted);
        var identity = await asSpoke.CallerIdentityAsync();
        Assert.Equal(Spoke, identity.Account);
        Assert.Equal($"arn:aws:sts::{Spoke}:assumed-role/{RoleName}/BatchSync-SubmitJob", identity.Arn);

        // Refused, with AWS's message, whatever the reason.
        var hubSession = (await hubFunction.CallerIdentityAsync()).Arn;
        var denied = await AssertAccessDenied(() => hubFunction.AssumeRoleAsync(roleArn, "BatchSync-SubmitJob", externalId: "another-stack"));
        Assert.Equal($"User: {hubSession} is not authorized to perform: sts:AssumeRole on resource: {roleArn}", denied.ServiceMessage);
        await AssertAccessDenied(() => hubFunction.AssumeRoleAsync(roleArn, "BatchSync-SubmitJob"));                       // no ExternalId
        await AssertAccessDenied(() => otherHubRole.AssumeRoleAsync(roleArn, "BatchSync-SubmitJob", externalId: HubStack)); // not <stack>-*
        await AssertAccessDenied(() => stranger.AssumeRoleAsync(roleArn, "BatchSync-SubmitJob", externalId: HubStack));     // another account
        var missing = $"arn:aws:iam::{Spoke}:role/NoSuchRole";
        await AssertAccessDenied(() => hubFunction.AssumeRoleAsync(missing, "BatchSync-SubmitJob", externalId: HubStack));

        // moto itself grants the very call the gate refused.
        var kind = await new SpokeWorld(endpoint, "us-east-1", hubFunction.Identity).AssumeRoleAsync(roleArn, "BatchSync-SubmitJob", externalId: "another-stack");
        Assert.Equal(Spoke, kind.Account);

        // Role chaining: a role session may not ask for more than an hour.
        var chained = await Assert.ThrowsAsync<BatchSync.Aws.AwsServiceException>(() => hubFunction.AssumeRoleAsync(roleArn, "BatchSync-SubmitJob", HubStack, durationSeconds: 7200));
        Assert.Equal("ValidationError", chained.ErrorCode);

        // Denied by the gate for a while ("role removed"), then allowed again.
        gate.Deny(roleArn);
        await AssertAccessDenied(() => hubFunction.AssumeRoleAsync(roleArn, "BatchSync-SubmitJob", externalId: HubStack));
        gate.Allow(roleArn);
        await hubFunction.AssumeRoleAsync(roleArn, "BatchSync-SubmitJob", externalId: HubStack);

        // Really deleted, then created again.
        await spokeAdmin.DeleteRoleAsync(RoleName);
        await AssertAccessDenied(() => hubFunction.AssumeRoleAsync(roleArn, "BatchSync-SubmitJob", externalId: HubStack));
        await spokeAdmin.CreateRoleAsync(RoleName, SpokeWorld.HubTrustPolicy(Hub, HubStack));
        var again = await hubFunction.AssumeRoleAsync(roleArn, "BatchSync-SubmitJob", externalId: HubStack);
        Assert.Equal(Spoke, (await new SpokeWorld(gate.Endpoint, "eu-west-1", again).CallerIdentityAsync()).Account);

        // Counted per role ARN: 1 granted, 4 refused, 1 chained, deny + allow, delete + recreate = 10 calls, 3 granted.
        Assert.Equal(10, gate.Calls(roleArn));
        Assert.Equal(3, gate.Granted(roleArn));
        Assert.Equal(7, gate.Refused(roleArn));
        Assert.Equal(1, gate.Calls(missing));
        Assert.Equal(0, gate.Granted(missing));
        Assert.Contains(gate.Decisions, d => d.RoleArn == roleArn && d.Reason.Contains("sts:ExternalId"));
        Assert.Contains(gate.Decisions, d => d.RoleArn == missing && d.Reason == "no such role in the role's account");

        // Every other call passes through to moto unchanged (here SQS, as the spoke account).
        var queue = await asSpoke.Sqs.CreateQueueAsync("sts-gate-pass-through");
        Assert.Contains($"/{Spoke}/", queue.QueueUrl);
    }

    [Fact]
    public async Task A_trust_policy_naming_a_role_arn_or_the_account_id_is_honoured()
    {
        var endpoint = moto.Server.Endpoint;
        using var gate = new StsGate(endpoint);
        var spokeAdmin = await Accounts.WorldAsync(endpoint, Spoke, "eu-west-2");
        var hub = (await Accounts.WorldAsync(endpoint, Hub, "us-east-1", "exact-role")).Through(gate.Endpoint);
        JsonObject Trust(JsonNode principal) => new()
        {
            ["Version"] = "2012-10-17",
            ["Statement"] = new JsonArray(new JsonObject { ["Effect"] = "Allow", ["Principal"] = new JsonObject { ["AWS"] = principal }, ["Action"] = "sts:AssumeRole" }),
        };
        var byRole = await spokeAdmin.CreateRoleAsync("TrustsOneRole", Trust(new JsonArray($"arn:aws:iam::{Hub}:role/exact-role")));
        var byAccount = await spokeAdmin.CreateRoleAsync("TrustsTheAccount", Trust(JsonValue.Create(Hub)));
        var otherAccount = await spokeAdmin.CreateRoleAsync("TrustsAnother", Trust(JsonValue.Create($"arn:aws:iam::{Stranger}:root")));

        Assert.Equal(Spoke, (await hub.AssumeRoleAsync(byRole, "s1")).Account);
        Assert.Equal(Spoke, (await hub.AssumeRoleAsync(byAccount, "s2")).Account);
        await AssertAccessDenied(() => hub.AssumeRoleAsync(otherAccount, "s3"));
        Assert.Equal(1, gate.Granted(byRole));
        Assert.Equal(1, gate.Refused(otherAccount));
    }

    private static async Task<BatchSync.Aws.AwsServiceException> AssertAccessDenied(Func<Task> call)
    {
        var e = await Assert.ThrowsAsync<BatchSync.Aws.AwsServiceException>(call);
        Assert.True(Sts.IsAccessDenied(e), e.Message);
        return e;
    }
}
