using System.Text.Json.Nodes;
using BatchSync.Aws;
using BatchSync.Composition;
using BatchSync.Domain;
using BatchSync.Mapping;
using BatchSync.Processing;
using Microsoft.Extensions.Time.Testing;
using static BatchSync.Tests.FakeSpokes;

namespace BatchSync.Tests;

public class TenancyDecisionsTests
{
    private static readonly Tenancy Tenants = new() { HubAccount = Hub, HubRegion = HubRegion, TenantAccounts = new HashSet<string> { B } };

    [Theory]
    [InlineData("arn:aws:states:eu-west-1:222222222222:execution:sm:run", "aws", "eu-west-1", "222222222222")]
    [InlineData("arn:aws-cn:states:cn-north-1:222222222222:execution:sm:run", "aws-cn", "cn-north-1", "222222222222")]
    [InlineData("arn:aws:states:us-east-1:123456789012:express:sm:run:id", "aws", "us-east-1", "123456789012")]
    public void An_execution_arn_names_the_partition_region_and_account(string arn, string partition, string region, string account) =>
        Assert.Equal(new TaskPlace(partition, region, account), TaskPlace.FromExecutionArn(arn));

    [Theory]
    [InlineData(null)]
    [InlineData("arn:aws:states:us-east-1:12345678901:execution:sm:run")]
    [InlineData("arn:aws:states:us-east-1:123456789012:stateMachine:sm")]
    [InlineData("arn:aws:lambda:us-east-1:123456789012:execution:sm:run")]
    [InlineData("arn:aws:states::123456789012:execution:sm:run")]
    public void Anything_else_names_no_place(string? arn) => Assert.Null(TaskPlace.FromExecutionArn(arn));

    [Theory]
    // place (account, region) → home, with tenants B (by list) and the hub 123456789012 in us-east-1
    [InlineData(null, null, TaskHome.Hub)]
    [InlineData(Hub, HubRegion, TaskHome.Hub)]
    [InlineData(Hub, OtherRegion, TaskHome.HubAccountElsewhere)]
    [InlineData(B, HubRegion, TaskHome.Tenant)]
    [InlineData(B, OtherRegion, TaskHome.Tenant)]
    [InlineData(C, HubRegion, TaskHome.NotATenant)]
    public void Whose_a_task_is_follows_its_account_and_region(string? account, string? region, TaskHome expected) =>
        Assert.Equal(expected, TaskDecisions.HomeOf(account is null ? null : new TaskPlace("aws", region!, account), Tenants));

    [Fact]
    public void With_an_organization_every_other_account_is_a_tenant_and_iam_checks_membership() =>
        Assert.Equal(TaskHome.Tenant, TaskDecisions.HomeOf(new TaskPlace("aws", HubRegion, C), Tenants with { OrganizationId = "o-abcdefghij" }));

    [Fact]
    public void Without_the_hubs_account_only_regions_are_told_apart()
    {
        var unknown = Tenancy.HubOnly(HubRegion);
        Assert.Equal(TaskHome.Hub, TaskDecisions.HomeOf(new TaskPlace("aws", HubRegion, C), unknown));
        Assert.Equal(TaskHome.HubAccountElsewhere, TaskDecisions.HomeOf(new TaskPlace("aws", OtherRegion, C), unknown));
    }

    [Theory]
    // place claimed, token given → what SubmitJob does first, with tenants served (B) and without
    [InlineData(B, OtherRegion, true, true, "ProveOwnership")]
    [InlineData(Hub, HubRegion, true, true, "ProveOwnership")]       // the hub's own, proven with the function's credentials
    [InlineData(Hub, OtherRegion, true, true, "ProveOwnership")]
    [InlineData(null, null, true, true, "ProbeHubOwnership")]
    [InlineData(null, null, false, true, NameOf.TaskTokenRequired)]   // a request-response submit proves nothing
    [InlineData(B, HubRegion, false, true, NameOf.TaskTokenRequired)]
    [InlineData(Hub, HubRegion, false, true, NameOf.TaskTokenRequired)]
    [InlineData(C, HubRegion, true, true, NameOf.NotATenant)]
    [InlineData(null, null, false, false, "Proceed")]                  // no tenants: as before issue 20
    [InlineData(Hub, OtherRegion, true, false, "Proceed")]
    [InlineData(C, HubRegion, true, false, NameOf.NotATenant)]
    public void Submit_first_proves_every_task_once_tenants_are_served(string? account, string? region, bool token, bool tenants, string expected)
    {
        var tenancy = tenants ? Tenants : Tenancy.HubOnly(HubRegion, Hub);
        var decision = TaskDecisions.OnSubmitPlace(account is null ? null : ExecutionArn(account, region!), token, tenancy);
        Assert.Equal(expected, decision is PlaceDecision.Refuse refuse ? refuse.Error.ErrorName : decision.GetType().Name);
        if (decision is PlaceDecision.ProveOwnership prove)
        {
            Assert.Equal(new TaskPlace("aws", region!, account!), prove.Place);
        }
    }

    private static class NameOf
    {
        public const string TaskTokenRequired = TaskTokenRequiredException.Name;
        public const string NotATenant = NotATenantException.Name;
    }

    [Theory]
    [InlineData("us-iso-east-1", "aws-iso")]
    [InlineData("us-isob-east-1", "aws-iso-b")]
    [InlineData("us-gov-west-1", "aws-us-gov")]
    [InlineData("cn-northwest-1", "aws-cn")]
    [InlineData("ap-southeast-2", "aws")]
    public void A_records_region_gives_every_function_the_same_partition(string region, string partition)
    {
        Assert.Equal(partition, TaskPlace.PartitionOf(region));
        var record = new TaskRecord { TaskKey = "k", TaskToken = "t", Status = RecordStatus.Submitted, Account = B, Region = region };
        Assert.Equal($"arn:{partition}:iam::{B}:role/BatchSyncSpoke", Tenants.SpokeRoleArn(TaskPlace.Of(record)!));
    }

    [Theory]
    [InlineData("arn:aws:states:evil.example.com/x:222222222222:execution:sm:run")]   // a region becomes an endpoint's host
    [InlineData("arn:aws:states:us-east-1.evil:222222222222:execution:sm:run")]
    [InlineData("arn:aws-cn:states:us-east-1:222222222222:execution:sm:run")]           // the partition is not the region's
    public void An_execution_arn_with_no_real_region_names_no_place(string arn) => Assert.Null(TaskPlace.FromExecutionArn(arn));

    [Theory]
    [InlineData(TaskReply.Accepted, OwnershipProof.Proven)]
    [InlineData(TaskReply.TaskClosed, OwnershipProof.TaskClosed)]
    [InlineData(TaskReply.InvalidToken, OwnershipProof.NotProven)]
    public void A_probe_proves_ownership_only_when_accepted_or_closed(TaskReply reply, OwnershipProof expected) =>
        Assert.Equal(expected, TaskDecisions.OnOwnershipProbe(reply));

    [Theory]
    [InlineData(B, null)]
    [InlineData("", null)]
    [InlineData(Hub, null)]
    [InlineData(C, OwnershipNotProvenException.Name)]
    public void A_relayed_submit_stamped_with_a_third_account_is_refused(string eventAccount, string? error) =>
        Assert.Equal(error, TaskDecisions.OnRelayedSubmit(ExecutionArn(B, OtherRegion), eventAccount, OtherRegion, Tenants)?.ErrorName);

    [Fact]
    public void A_relayed_submit_needs_its_execution_arn() =>
        Assert.Equal(ExecutionArnRequiredException.Name, TaskDecisions.OnRelayedSubmit(null, B, OtherRegion, Tenants)?.ErrorName);

    [Theory]
    // record's account, mode, key given → authorization
    [InlineData(B, CallbackKeys.Off, "none", CallbackAuthorization.KeyMissing)]
    [InlineData(B, CallbackKeys.Off, "right", CallbackAuthorization.Allowed)]
    [InlineData(B, CallbackKeys.Off, "wrong", CallbackAuthorization.WrongKey)]
    [InlineData(null, CallbackKeys.Off, "none", CallbackAuthorization.Allowed)]
    [InlineData(null, CallbackKeys.Off, "wrong", CallbackAuthorization.WrongKey)]
    [InlineData(null, CallbackKeys.Deliver, "none", CallbackAuthorization.Allowed)]
    [InlineData(null, CallbackKeys.Deliver, "right", CallbackAuthorization.Allowed)]
    [InlineData(null, CallbackKeys.Require, "none", CallbackAuthorization.KeyMissing)]
    [InlineData(null, CallbackKeys.Require, "right", CallbackAuthorization.Allowed)]
    [InlineData(Hub, CallbackKeys.Off, "none", CallbackAuthorization.Allowed)]
    public void A_callback_acts_for_a_task_only_with_its_key_where_one_is_required(string? account, CallbackKeys mode, string given, CallbackAuthorization expected)
    {
        var record = new TaskRecord { TaskKey = "k", TaskToken = "the-token", Status = RecordStatus.Submitted, JobId = "j", Account = account, Region = account is null ? null : OtherRegion };
        var key = given switch { "right" => TaskKey.CallbackKey("the-token"), "wrong" => TaskKey.CallbackKey("another-token"), _ => null };
        Assert.Equal(expected, TaskDecisions.AuthorizeCallback(record, key, Tenants with { CallbackKeys = mode }));
    }

    [Fact]
    public void The_callback_key_derives_from_the_token_and_is_neither_the_token_nor_the_record_key()
    {
        var key = TaskKey.CallbackKey("the-token");
        // As DEVELOPERS.md states it: base64url(SHA-256("BatchSync callback key\n" + token)), computed here on its own.
        var documented = Convert.ToBase64String(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes("BatchSync callback key\nthe-token")))
            .TrimEnd('=').Replace('+', '-').Replace('/', '_');
        Assert.Equal(documented, key);
        Assert.NotEqual(key, TaskKey.For("the-token"));
        Assert.DoesNotContain("the-token", key);
        Assert.Equal(43, key.Length);
    }

    [Fact]
    public void A_stop_event_from_another_account_than_the_executions_changes_nothing()
    {
        var record = new TaskRecord { TaskKey = "k", TaskToken = "t", Status = RecordStatus.Submitted, JobId = "j", ExecutionArn = ExecutionArn(B, OtherRegion) };
        Assert.IsType<StopDecision.Ignore>(TaskDecisions.OnExecutionStopped(record, new ExecutionStatusEvent(ExecutionArn(B, OtherRegion), "ABORTED", null, C)));
        Assert.IsType<StopDecision.TerminateAndClose>(TaskDecisions.OnExecutionStopped(record, new ExecutionStatusEvent(ExecutionArn(B, OtherRegion), "ABORTED", null, B)));
    }

    [Fact]
    public void A_tenant_may_use_only_the_queues_and_definitions_its_patterns_give_it()
    {
        var permissions = Tenants.PermissionsFor(B);
        Assert.Null(permissions.Check(Fixtures.Utf8("""{"jobQueue":"222222222222-gpu","jobDefinition":"arn:aws:batch:us-east-1:123456789012:job-definition/222222222222-train:3"}""")));
        Assert.NotNull(permissions.Check(Fixtures.Utf8("""{"jobQueue":"333333333333-gpu","jobDefinition":"222222222222-train:3"}""")));
        Assert.NotNull(permissions.Check(Fixtures.Utf8("""{"jobQueue":"222222222222-gpu","jobDefinition":"shared-train:3"}""")));
    }
}

public class TenancySettingsTests
{
    private static Tenancy Read(params (string Name, string Value)[] values) =>
        BatchSyncSettings.TenancyFrom(HubRegion, name => values.FirstOrDefault(v => v.Name == name).Value);

    [Fact]
    public void By_default_nothing_crosses_an_account()
    {
        var tenancy = Read();
        Assert.False(tenancy.HasTenants);
        Assert.Equal((null, "BatchSyncSpoke", CallbackKeys.Off), (tenancy.HubAccount, tenancy.SpokeRoleName, tenancy.CallbackKeys));
    }

    [Fact]
    public void Tenants_an_organization_and_the_role_name_are_read()
    {
        var tenancy = Read(("BATCHSYNC_ACCOUNT_ID", Hub), ("BATCHSYNC_TENANT_ACCOUNTS", $" {B}, {C} "), ("BATCHSYNC_ORGANIZATION_ID", "o-abcdefghij"),
            ("BATCHSYNC_SPOKE_ROLE_NAME", "Spoke"), ("BATCHSYNC_CALLBACK_KEYS", "require"));
        Assert.Equal([B, C], tenancy.TenantAccounts.Order());
        Assert.Equal(("o-abcdefghij", "Spoke", CallbackKeys.Require), (tenancy.OrganizationId, tenancy.SpokeRoleName, tenancy.CallbackKeys));
        Assert.Equal($"arn:aws:iam::{B}:role/Spoke", tenancy.SpokeRoleArn(new TaskPlace("aws", OtherRegion, B)));
    }

    [Theory]
    [InlineData("BATCHSYNC_ACCOUNT_ID", "12345")]
    [InlineData("BATCHSYNC_TENANT_ACCOUNTS", "222222222222,abc")]
    [InlineData("BATCHSYNC_ORGANIZATION_ID", "org-1")]
    [InlineData("BATCHSYNC_SPOKE_ROLE_NAME", "role/with/slashes")]
    [InlineData("BATCHSYNC_CALLBACK_KEYS", "Sometimes")]
    [InlineData("BATCHSYNC_CALLBACK_KEYS", "2")]
    public void A_bad_value_fails_the_cold_start_naming_its_variable(string name, string value)
    {
        var e = Assert.Throws<InvalidOperationException>(() => Read((name, value), ("BATCHSYNC_ACCOUNT_ID", Hub)));
        Assert.Contains(name, e.Message);
    }

    [Fact]
    public void Tenants_need_the_hubs_account_id()
    {
        var e = Assert.Throws<InvalidOperationException>(() => Read(("BATCHSYNC_TENANT_ACCOUNTS", B)));
        Assert.Contains("BATCHSYNC_ACCOUNT_ID", e.Message);
    }
}

public class SpokeCredentialsTests
{
    private static readonly string RoleB = $"arn:aws:iam::{B}:role/BatchSyncSpoke";

    [Fact]
    public async Task A_role_is_assumed_once_for_many_concurrent_calls_and_kept_until_shortly_before_it_expires()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.Parse("2026-12-03T10:00:00Z"));
        var sts = new FakeRoleAssumer(clock);
        var credentials = new SpokeCredentials(sts, clock, "hub-stack");

        var first = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => credentials.GetAsync(B, RoleB, default)));
        Assert.Single(first.Select(c => c.AccessKeyId).Distinct());
        Assert.Equal([(RoleB, "hub-stack")], sts.Calls);

        clock.Advance(TimeSpan.FromMinutes(49));
        await credentials.GetAsync(B, RoleB, default);
        Assert.Single(sts.Calls);
        clock.Advance(TimeSpan.FromMinutes(2));
        var refreshed = await credentials.GetAsync(B, RoleB, default);
        Assert.Equal(2, sts.Calls.Count);
        Assert.NotEqual(first[0].AccessKeyId, refreshed.AccessKeyId);
        Assert.Equal(2, credentials.AssumeRoleCalls);
    }

    [Fact]
    public async Task A_refused_role_is_named_held_for_a_while_and_assumed_again_once_allowed()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.Parse("2026-12-03T10:00:00Z"));
        var sts = new FakeRoleAssumer(clock);
        sts.Denied.Add(RoleB);
        var unreachable = new List<SpokeUnreachableException>();
        var credentials = new SpokeCredentials(sts, clock, "hub-stack", unreachable.Add);

        var e = await Assert.ThrowsAsync<SpokeUnreachableException>(() => credentials.GetAsync(B, RoleB, default));
        Assert.Equal((SpokeUnreachableException.Name, B), (e.ErrorName, e.Account));
        Assert.Contains("AccessDenied", e.Message);
        await Assert.ThrowsAsync<SpokeUnreachableException>(() => credentials.GetAsync(B, RoleB, default));
        Assert.Single(sts.Calls);
        Assert.Single(unreachable);

        sts.Denied.Clear();
        clock.Advance(SpokeCredentials.FailureHold);
        await credentials.GetAsync(B, RoleB, default);
        Assert.Equal(2, sts.Calls.Count);
    }

    [Fact]
    public async Task Credentials_still_valid_outlive_a_failed_refresh()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.Parse("2026-12-03T10:00:00Z"));
        var sts = new FakeRoleAssumer(clock);
        var credentials = new SpokeCredentials(sts, clock, "hub-stack");
        var held = await credentials.GetAsync(B, RoleB, default);

        sts.Denied.Add(RoleB);
        clock.Advance(TimeSpan.FromMinutes(55));
        Assert.Equal(held, await credentials.GetAsync(B, RoleB, default));
        clock.Advance(TimeSpan.FromMinutes(4.5));
        await Assert.ThrowsAsync<SpokeUnreachableException>(() => credentials.GetAsync(B, RoleB, default));
    }

    [Fact]
    public async Task An_unexpected_failure_of_assume_role_is_not_kept_for_the_next_call()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.Parse("2026-12-03T10:00:00Z"));
        var sts = new FakeRoleAssumer(clock) { FailOnce = new InvalidOperationException("STS answered no credentials") };
        var credentials = new SpokeCredentials(sts, clock, "hub-stack");

        await Assert.ThrowsAsync<InvalidOperationException>(() => credentials.GetAsync(B, RoleB, default));
        var granted = await credentials.GetAsync(B, RoleB, default);

        Assert.StartsWith($"ASIA-{B}-", granted.AccessKeyId);
        Assert.Equal(2, sts.Calls.Count);
    }

    [Fact]
    public void The_session_name_keeps_to_what_sts_accepts()
    {
        Assert.Equal("BatchSync-hub-SubmitJobFunction-AbC_1", SpokeCredentials.SessionNameFor("hub-SubmitJobFunction-AbC_1"));
        Assert.Equal("BatchSync-a-b", SpokeCredentials.SessionNameFor("a:b"));
        Assert.Equal(64, SpokeCredentials.SessionNameFor(new string('x', 100)).Length);
    }
}

[Collection(LogCapture.Collection)]
public class SpokeSubmitTests
{
    private readonly FakeSpokes _spokes = new();

    private static string Payload(string token, string? executionArn, string queue = "222222222222-gpu", string definition = "222222222222-train:1", string extra = "") =>
        $$"""{"JobName":"j","JobQueue":"{{queue}}","JobDefinition":"{{definition}}","TaskToken":"{{token}}"{{(executionArn is null ? "" : $",\"ExecutionArn\":\"{executionArn}\"")}}{{extra}}}""";

    [Theory]
    [InlineData(HubRegion)]
    [InlineData(OtherRegion)]
    public async Task A_tenants_task_is_proven_as_its_spoke_role_then_submitted_with_its_tag_and_callback_key(string region)
    {
        var token = _spokes.Issue(B, region);

        var response = await _spokes.Submitter().SubmitAsync(Fixtures.Utf8(Payload(token, ExecutionArn(B, region), extra: ""","Tags":{"team":"ml"}""")));

        Assert.Equal("job-1", response.JobId);
        Assert.Equal([(B, region, "SendTaskHeartbeat", token, TaskReply.Accepted)], _spokes.Calls);
        var submitted = _spokes.World.Batch.Submitted.Single();
        Assert.Equal(B, (string?)submitted["tags"]![Tenancy.TenantTag]);
        Assert.Equal("ml", (string?)submitted["tags"]!["team"]);
        Assert.Equal(TaskKey.CallbackKey(token), (string?)submitted["parameters"]![TaskKey.CallbackKeyParameter]);
        var record = _spokes.World.Store.Records.Values.Single();
        Assert.Equal((B, region), (record.Account, record.Region));
        Assert.Equal([($"arn:aws:iam::{B}:role/BatchSyncSpoke", "hub-stack")], _spokes.Sts.Calls);
    }

    [Fact]
    public async Task A_payload_claiming_tenant_b_with_tenant_cs_token_submits_nothing_and_writes_nothing()
    {
        var token = _spokes.Issue(C, HubRegion);

        var e = await Assert.ThrowsAsync<OwnershipNotProvenException>(() => _spokes.Submitter().SubmitAsync(Fixtures.Utf8(Payload(token, ExecutionArn(B, HubRegion)))));

        Assert.Equal(OwnershipNotProvenException.Name, e.ErrorName);
        Assert.Empty(_spokes.World.Batch.Submitted);
        Assert.Empty(_spokes.World.Store.Records);
        Assert.Equal([(B, HubRegion, "SendTaskHeartbeat", token, TaskReply.InvalidToken)], _spokes.Calls);
    }

    [Fact]
    public async Task A_payload_claiming_an_account_that_is_no_tenant_is_refused_before_any_call()
    {
        var token = _spokes.Issue(Stranger, HubRegion);

        await Assert.ThrowsAsync<NotATenantException>(() => _spokes.Submitter().SubmitAsync(Fixtures.Utf8(Payload(token, ExecutionArn(Stranger, HubRegion)))));

        Assert.Empty(_spokes.World.Batch.Submitted);
        Assert.Empty(_spokes.World.Store.Records);
        Assert.Empty(_spokes.Calls);
        Assert.Empty(_spokes.Sts.Calls);
    }

    [Fact]
    public async Task A_tenants_job_outside_its_queues_fails_its_task_through_its_spoke()
    {
        var token = _spokes.Issue(B, OtherRegion);

        var response = await _spokes.Submitter().SubmitAsync(Fixtures.Utf8(Payload(token, ExecutionArn(B, OtherRegion), queue: "333333333333-gpu")));

        Assert.Equal(NotAllowedException.Name, response.Error);
        Assert.Empty(_spokes.World.Batch.Submitted);
        var failure = _spokes.Calls.Last();
        Assert.Equal((B, OtherRegion, "SendTaskFailure", TaskReply.Accepted), (failure.Account, failure.Region, failure.Operation, failure.Reply));
    }

    [Fact]
    public async Task A_tenants_rejected_payload_is_answered_through_its_spoke()
    {
        var token = _spokes.Issue(B, OtherRegion);

        var response = await _spokes.Submitter().SubmitAsync(Fixtures.Utf8(Payload(token, ExecutionArn(B, OtherRegion), extra: ""","Bogus":1""")));

        Assert.Equal(InvalidInputException.Name, response.Error);
        Assert.Equal(["SendTaskHeartbeat", "SendTaskFailure"], _spokes.Calls.Select(c => c.Operation));
        Assert.All(_spokes.Calls, c => Assert.Equal((B, OtherRegion, TaskReply.Accepted), (c.Account, c.Region, c.Reply)));
    }

    [Fact]
    public async Task A_spoke_whose_role_is_denied_fails_the_invocation_by_name_and_submits_nothing()
    {
        _spokes.Sts.Denied.Add($"arn:aws:iam::{B}:role/BatchSyncSpoke");
        var token = _spokes.Issue(B, HubRegion);

        var e = await Assert.ThrowsAsync<SpokeUnreachableException>(() => _spokes.Submitter().SubmitAsync(Fixtures.Utf8(Payload(token, ExecutionArn(B, HubRegion)))));

        Assert.Equal(SpokeUnreachableException.Name, e.ErrorName);
        Assert.Empty(_spokes.World.Batch.Submitted);
        Assert.Empty(_spokes.World.Store.Records);
    }

    [Fact]
    public async Task A_relayed_event_is_unwrapped_and_its_task_proven()
    {
        var token = _spokes.Issue(B, OtherRegion);
        var envelope = new JsonObject
        {
            ["version"] = "0", ["id"] = "e-1", ["detail-type"] = SubmitEnvelope.DetailType, ["source"] = SubmitEnvelope.Source,
            ["account"] = B, ["region"] = OtherRegion, ["detail"] = JsonNode.Parse(Payload(token, ExecutionArn(B, OtherRegion))),
        };

        var response = await _spokes.Submitter().SubmitAsync(Fixtures.Utf8(envelope.ToJsonString()));

        Assert.Equal("job-1", response.JobId);
        Assert.Equal(B, (string?)_spokes.World.Batch.Submitted.Single()["tags"]![Tenancy.TenantTag]);
    }

    [Fact]
    public async Task A_relayed_event_stamped_with_another_tenant_is_refused()
    {
        var token = _spokes.Issue(B, OtherRegion);
        var envelope = new JsonObject
        {
            ["detail-type"] = SubmitEnvelope.DetailType, ["source"] = SubmitEnvelope.Source, ["account"] = C, ["region"] = OtherRegion,
            ["detail"] = JsonNode.Parse(Payload(token, ExecutionArn(B, OtherRegion))),
        };

        await Assert.ThrowsAsync<OwnershipNotProvenException>(() => _spokes.Submitter().SubmitAsync(Fixtures.Utf8(envelope.ToJsonString())));
        Assert.Empty(_spokes.World.Batch.Submitted);
        Assert.Empty(_spokes.Calls);
    }

    [Fact]
    public async Task A_hub_task_without_an_execution_arn_is_probed_when_tenants_are_served_and_a_foreign_token_is_named()
    {
        var own = _spokes.Issue(Hub, HubRegion);
        Assert.Equal("job-1", (await _spokes.Submitter().SubmitAsync(Fixtures.Utf8(Payload(own, null, "q", "d")))).JobId);
        Assert.Null(_spokes.World.Batch.Submitted.Single()["tags"]);

        var foreign = _spokes.Issue(B, OtherRegion);
        await Assert.ThrowsAsync<ExecutionArnRequiredException>(() => _spokes.Submitter().SubmitAsync(Fixtures.Utf8(Payload(foreign, null, "q", "d"))));
        Assert.Single(_spokes.World.Batch.Submitted);
        Assert.Empty(_spokes.Sts.Calls);
    }

    [Fact]
    public async Task Once_tenants_are_served_a_submit_without_a_token_runs_nothing()
    {
        var e = await Assert.ThrowsAsync<TaskTokenRequiredException>(() =>
            _spokes.Submitter().SubmitAsync(Fixtures.Utf8("""{"JobName":"j","JobQueue":"hub-prod","JobDefinition":"hub-admin:1"}""")));

        Assert.Equal(TaskTokenRequiredException.Name, e.ErrorName);
        Assert.Empty(_spokes.World.Batch.Submitted);
        Assert.Empty(_spokes.Calls);
    }

    [Theory]
    [InlineData(HubRegion)]
    [InlineData(OtherRegion)]
    public async Task A_tenants_token_claimed_as_the_hubs_own_task_is_proven_at_the_hub_and_refused(string region)
    {
        var tokenOfB = _spokes.Issue(B, OtherRegion);

        await Assert.ThrowsAsync<OwnershipNotProvenException>(() =>
            _spokes.Submitter().SubmitAsync(Fixtures.Utf8(Payload(tokenOfB, ExecutionArn(Hub, region), "hub-prod", "hub-admin:1"))));

        Assert.Empty(_spokes.World.Batch.Submitted);
        Assert.Empty(_spokes.World.Store.Records);
        Assert.Equal([(Hub, region, "SendTaskHeartbeat", tokenOfB, TaskReply.InvalidToken)], _spokes.Calls);
        Assert.Empty(_spokes.Sts.Calls); // the hub's own account needs no role
    }

    [Theory]
    [InlineData(HubRegion)]
    [InlineData(OtherRegion)]
    public async Task The_hubs_own_task_is_proven_with_its_own_credentials_and_runs_as_before(string region)
    {
        var own = _spokes.Issue(Hub, region);

        var response = await _spokes.Submitter().SubmitAsync(Fixtures.Utf8(Payload(own, ExecutionArn(Hub, region), "hub-prod", "hub-admin:1")));

        Assert.Equal("job-1", response.JobId);
        Assert.Null(_spokes.World.Batch.Submitted.Single()["tags"]);
        var record = _spokes.World.Store.Records.Values.Single();
        Assert.Equal(region == HubRegion ? (null, null) : (Hub, region), (record.Account, record.Region));
        Assert.Empty(_spokes.Sts.Calls);
    }

    [Fact]
    public async Task A_token_whose_record_was_written_for_another_place_gets_nothing_of_it()
    {
        var token = _spokes.Issue(B, OtherRegion);
        var key = TaskKey.For(token);
        // The record as a first invocation for account C left it (Batch never reached: submit again is allowed).
        _spokes.World.Store.Records[key] = TaskDecisions.RejectedRecord(key, token, 0) with { Reason = "SubmitJob never reached Batch", Account = C, Region = OtherRegion };

        await Assert.ThrowsAsync<OwnershipNotProvenException>(() => _spokes.Submitter().SubmitAsync(Fixtures.Utf8(Payload(token, ExecutionArn(B, OtherRegion)))));

        Assert.Empty(_spokes.World.Batch.Submitted);
    }

    [Fact]
    public async Task The_hubs_own_task_makes_no_sts_call_and_no_probe_when_no_tenants_are_served()
    {
        _spokes.Tenancy = Tenancy.HubOnly(HubRegion, Hub);
        var own = _spokes.Issue(Hub, HubRegion);

        await _spokes.Submitter().SubmitAsync(Fixtures.Utf8(Payload(own, ExecutionArn(Hub, HubRegion), "q", "d")));

        Assert.Equal(["Store.Create", "Batch.SubmitJob", "Store.AttachJob"], _spokes.Log.Calls);
        Assert.Empty(_spokes.Sts.Calls);
        var submitted = _spokes.World.Batch.Submitted.Single();
        Assert.Null(submitted["tags"]);
        Assert.Null(submitted["parameters"]![TaskKey.CallbackKeyParameter]);
    }

    [Fact]
    public async Task A_tenants_answers_go_through_its_role_and_region_and_another_tenants_job_cannot_call_back_for_it()
    {
        var token = _spokes.Issue(B, OtherRegion);
        await _spokes.Submitter().SubmitAsync(Fixtures.Utf8(Payload(token, ExecutionArn(B, OtherRegion))));
        var tokenC = _spokes.Issue(C, HubRegion);
        await _spokes.Submitter().SubmitAsync(Fixtures.Utf8(Payload(tokenC, ExecutionArn(C, HubRegion), "333333333333-q", "333333333333-d:1")));
        var keyOfC = (string)_spokes.World.Batch.Submitted[1]["parameters"]![TaskKey.CallbackKeyParameter]!;

        // C's job names B's job id: without B's key, or with its own key, nothing changes.
        await Assert.ThrowsAsync<CallbackNotAuthorizedException>(() => _spokes.Callbacks().HandleAsync(Fixtures.Utf8("""{"JobId":"job-1","Error":"Forged"}""")));
        await Assert.ThrowsAsync<CallbackNotAuthorizedException>(() => _spokes.Callbacks().HandleAsync(Fixtures.Utf8($$"""{"JobId":"job-1","Error":"Forged","CallbackKey":"{{keyOfC}}"}""")));
        Assert.DoesNotContain(_spokes.Calls, c => c.Operation == "SendTaskFailure");

        var keyOfB = (string)_spokes.World.Batch.Submitted[0]["parameters"]![TaskKey.CallbackKeyParameter]!;
        var response = await _spokes.Callbacks().HandleAsync(Fixtures.Utf8($$"""{"JobId":"job-1","Error":"Mine","CallbackKey":"{{keyOfB}}"}"""));
        Assert.Equal("Failed", response.Action);
        var failure = _spokes.Calls.Last();
        Assert.Equal((B, OtherRegion, "SendTaskFailure", token, TaskReply.Accepted), failure);
        Assert.Equal(2, _spokes.Sts.Calls.Count);
    }
}

[Collection(LogCapture.Collection)]
public class SpokeSweepTests
{
    [Fact]
    public async Task A_spoke_whose_role_is_denied_is_isolated_its_records_kept_and_answered_once_when_the_role_is_back()
    {
        var start = DateTimeOffset.Parse("2026-12-03T10:00:00Z");
        var clock = new FakeTimeProvider(start);
        var spokes = new FakeSpokes(clock);
        var unreachable = new List<SpokeUnreachableException>();
        var router = spokes.Router(clock, unreachable.Add);
        var world = spokes.World;
        // Three open tasks whose jobs SUCCEEDED and whose events were lost: B's in another region, C's in the hub's, the hub's own.
        var tasks = new[] { (B, OtherRegion), (C, HubRegion), (Hub, HubRegion) }.Select((place, i) =>
        {
            var token = spokes.Issue(place.Item1, place.Item2);
            var key = TaskKey.For(token);
            world.Store.Records[key] = new TaskRecord
            {
                TaskKey = key, TaskToken = token, Status = RecordStatus.Submitted, JobId = $"job-{i}", CreatedAt = 0, NextCheckAt = 0,
                ExecutionArn = ExecutionArn(place.Item1, place.Item2), Account = place.Item1 == Hub ? null : place.Item1, Region = place.Item1 == Hub ? null : place.Item2,
            };
            world.Batch.Jobs[$"job-{i}"] = FakeWorld.Detail(FakeWorld.Event($"job-{i}", "SUCCEEDED", TaskKey.Marker(FakeWorld.Namespace, key)));
            return (Place: place, Token: token, Key: key);
        }).ToList();
        var roleOfB = $"arn:aws:iam::{B}:role/BatchSyncSpoke";
        spokes.Sts.Denied.Add(roleOfB);
        Reconciler Sweeper() => new(world.Batch, router, world.Store, FakeWorld.Namespace, clock);

        await Sweeper().SweepAsync(new SweepRequest(1, 1));

        // C and the hub were answered; B was not, and is named; its record stays open and due again later.
        Assert.False(world.Store.Records[tasks[0].Key].IsFinished);
        Assert.Equal(RecordStatus.Succeeded, world.Store.Records[tasks[1].Key].Status);
        Assert.Equal(RecordStatus.Succeeded, world.Store.Records[tasks[2].Key].Status);
        Assert.Equal([B], unreachable.Select(u => u.Account).Distinct());
        Assert.DoesNotContain(spokes.Calls, c => c.Token == tasks[0].Token);
        Assert.Equal(1, world.Store.Records[tasks[0].Key].CheckFailures);
        Assert.Null(world.Store.Records[tasks[0].Key].AnswerClaimId); // nothing was sent: the claim is given up at once

        spokes.Sts.Denied.Clear();
        clock.Advance(TimeSpan.FromHours(2));
        await Sweeper().SweepAsync(new SweepRequest(1, 1));

        Assert.Equal(RecordStatus.Succeeded, world.Store.Records[tasks[0].Key].Status);
        var answers = spokes.Calls.Where(c => c.Operation == "SendTaskSuccess").ToList();
        Assert.Equal([(Hub, HubRegion), (B, OtherRegion), (C, HubRegion)], answers.Select(a => (a.Account, a.Region)).Order());
        Assert.All(answers, a => Assert.Equal(TaskReply.Accepted, a.Reply));
        Assert.Equal(3, answers.Select(a => a.Token).Distinct().Count());
        // The hub's own task never needed a role: one AssumeRole for C, two tries for B (refused, then granted).
        Assert.Equal(2, spokes.Sts.Calls.Count(c => c.RoleArn == roleOfB));
        Assert.Single(spokes.Sts.Calls, c => c.RoleArn.Contains(C));
    }
}

[Collection(LogCapture.Collection)]
public class SpokeKmsTests
{
    [Theory]
    [InlineData("KmsAccessDeniedException", false)]
    [InlineData("KmsInvalidStateException", false)]
    [InlineData("KmsThrottlingException", true)]
    public async Task A_kms_refusal_of_an_answer_keeps_the_task_open_gives_up_the_claim_and_the_next_attempt_answers(string code, bool throttling)
    {
        var spokes = new FakeSpokes();
        var token = spokes.Issue(B, OtherRegion);
        var key = TaskKey.For(token);
        spokes.World.Store.Records[key] = new TaskRecord
        {
            TaskKey = key, TaskToken = token, Status = RecordStatus.Submitted, JobId = "job-1", CreatedAt = 0,
            ExecutionArn = ExecutionArn(B, OtherRegion), Account = B, Region = OtherRegion,
        };
        var evt = FakeWorld.Event("job-1", "SUCCEEDED", TaskKey.Marker(FakeWorld.Namespace, key));
        spokes.World.Batch.Jobs["job-1"] = FakeWorld.Detail(evt);
        var place = spokes.At(B, OtherRegion);
        var refusal = new AwsServiceException("AWSStepFunctions", "SendTaskSuccess", System.Net.HttpStatusCode.BadRequest, code, "The KMS key of the execution refused", "r");
        place.FailBefore = call => call.Operation == "SendTaskSuccess" ? refusal : null;
        Assert.Equal(throttling, refusal.IsThrottling);
        var events = new JobEventProcessor(spokes.World.Batch, spokes.Router(), spokes.World.Store, FakeWorld.Namespace);

        var e = await Assert.ThrowsAsync<AwsServiceException>(() => events.HandleAsync(evt));

        Assert.Equal(code, e.ErrorCode);
        Assert.True(DependencyFailures.IsDependencyFailure(e)); // the invocation fails as BatchSync.TransientFailure: retried
        var record = spokes.World.Store.Records[key];
        Assert.False(record.IsFinished);
        Assert.Null(record.AnswerClaimId);

        place.FailBefore = null; // the key policy fixed (or KMS no longer throttling)
        await events.HandleAsync(evt);
        Assert.Equal(RecordStatus.Succeeded, spokes.World.Store.Records[key].Status);
        Assert.Single(place.Sent, s => s.Operation == "SendTaskSuccess" && s.Accepted);
    }
}

/// <summary>A tenant's service job (issue 21): proven as for a container job, tagged, its queue checked, no Callback key.</summary>
[Collection(LogCapture.Collection)]
public class SpokeServiceJobTests
{
    private readonly FakeSpokes _spokes = new();

    private static string Payload(string token, string executionArn, string queue, string role = "222222222222-training") =>
        $$"""{"JobName":"j","JobQueue":"{{queue}}","ServiceJobType":"SAGEMAKER_TRAINING","ServiceRequestPayload":"{\"TrainingJobName\":\"t\",\"RoleArn\":\"arn:aws:iam::123456789012:role/{{role}}\"}","Tags":{"team":"ml"},"TaskToken":"{{token}}","ExecutionArn":"{{executionArn}}"}""";

    [Fact]
    public async Task A_tenants_service_job_is_proven_then_submitted_with_its_marker_and_tenant_tags_and_no_callback_key()
    {
        var token = _spokes.Issue(FakeSpokes.B, FakeSpokes.OtherRegion);

        var response = await _spokes.Submitter().SubmitAsync(Fixtures.Utf8(Payload(token, FakeSpokes.ExecutionArn(FakeSpokes.B, FakeSpokes.OtherRegion), "222222222222-training")));

        Assert.Null(response.Error);
        var submitted = _spokes.World.Batch.ServiceSubmits.Single();
        Assert.Equal(FakeSpokes.B, (string?)submitted["tags"]![Tenancy.TenantTag]);
        Assert.Equal("ml", (string?)submitted["tags"]!["team"]);
        Assert.EndsWith(":" + TaskKey.For(token), (string?)submitted["tags"]![TaskKey.MarkerParameter]);
        Assert.Null(submitted["parameters"]);
        Assert.DoesNotContain(TaskKey.CallbackKey(token), submitted.ToJsonString());
        Assert.Equal(TaskKey.ClientToken(token), (string?)submitted["clientToken"]);
        var record = _spokes.World.Store.Records.Values.Single();
        Assert.Equal((JobKind.Service, FakeSpokes.B, FakeSpokes.OtherRegion), (record.JobKind, record.Account, record.Region));
    }

    [Fact]
    public async Task A_tenants_service_job_outside_its_queues_fails_its_task_through_its_spoke_and_submits_nothing()
    {
        var token = _spokes.Issue(FakeSpokes.B, FakeSpokes.HubRegion);

        var response = await _spokes.Submitter().SubmitAsync(Fixtures.Utf8(Payload(token, FakeSpokes.ExecutionArn(FakeSpokes.B, FakeSpokes.HubRegion), "333333333333-training")));

        Assert.Equal(NotAllowedException.Name, response.Error);
        Assert.Contains("job queue \"333333333333-training\"", response.Cause);
        Assert.Empty(_spokes.World.Batch.ServiceSubmits);
        Assert.Equal("SendTaskFailure", _spokes.Calls.Last().Operation);
    }

    [Theory]
    [InlineData("333333333333-training")] // another tenant's
    [InlineData("sagemaker-shared")]      // the hub's, allowed by AllowedServiceRoles but not a tenant's
    public async Task A_tenants_service_job_naming_a_role_not_its_own_fails_its_task_and_submits_nothing(string role)
    {
        var token = _spokes.Issue(FakeSpokes.B, FakeSpokes.HubRegion);

        var response = await _spokes.Submitter().SubmitAsync(Fixtures.Utf8(Payload(token, FakeSpokes.ExecutionArn(FakeSpokes.B, FakeSpokes.HubRegion), "222222222222-training", role)));

        Assert.Equal(NotAllowedException.Name, response.Error);
        Assert.Contains($"service role \"arn:aws:iam::123456789012:role/{role}\"", response.Cause);
        Assert.Contains("arn:*:iam::*:role/222222222222-*", response.Cause);
        Assert.Empty(_spokes.World.Batch.ServiceSubmits);
    }
}
