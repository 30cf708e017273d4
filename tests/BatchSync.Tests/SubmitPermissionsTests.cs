using BatchSync.Processing;
using BatchSync.Domain;

namespace BatchSync.Tests;

[Collection(LogCapture.Collection)]
public class SubmitPermissionsTests
{
    private const string Queues = "arn:aws:batch:us-east-1:123456789012:job-queue/team-a-*,arn:aws:batch:us-east-1:123456789012:job-queue/shared";
    private const string Definitions = "arn:aws:batch:us-east-1:123456789012:job-definition/etl:*,arn:aws:batch:us-east-1:123456789012:job-definition/report:3";

    // IAM's wildcards (IAM User Guide, "IAM JSON policy elements: Resource"): * any run of characters, ? exactly one.
    [Theory]
    [InlineData("*", "", true)]
    [InlineData("*", "anything:at/all", true)]
    [InlineData("team-a-*", "team-a-", true)]
    [InlineData("team-a-*", "team-a-gpu", true)]
    [InlineData("team-a-*", "team-b-gpu", false)]
    [InlineData("a?c", "abc", true)]
    [InlineData("a?c", "ac", false)]
    [InlineData("a*b*c", "a-x-b-y-c", true)]
    [InlineData("a*b*c", "a-x-c-y-b", false)]
    [InlineData("etl:*", "etl:12", true)]
    [InlineData("etl:*", "etl2:1", false)]
    [InlineData("shared", "shared-2", false)]
    public void Patterns_match_as_IAM_wildcards_do(string pattern, string text, bool matches) =>
        Assert.Equal(matches, SubmitPermissions.Glob(pattern, text));

    [Theory]
    [InlineData("team-a-gpu", "etl", true)]
    [InlineData("shared", "etl:7", true)]
    [InlineData("arn:aws:batch:us-east-1:123456789012:job-queue/team-a-cpu", "arn:aws:batch:us-east-1:123456789012:job-definition/etl:2", true)]
    [InlineData("shared", "report:3", true)]
    // A revision-less name means the latest revision: only a pattern covering every revision allows it.
    [InlineData("shared", "report", false)]
    [InlineData("shared", "report:4", false)]
    [InlineData("team-b", "etl", false)]
    [InlineData("arn:aws:batch:eu-west-1:123456789012:job-queue/team-a-cpu", "etl", false)]
    [InlineData("shared", "arn:aws:batch:us-east-1:999999999999:job-definition/etl:1", false)]
    public void Only_the_listed_queues_and_definitions_are_allowed(string queue, string definition, bool allowed)
    {
        var permissions = SubmitPermissions.FromLists(Queues, Definitions);
        var refusal = permissions.Check(Fixtures.Utf8($$"""{"jobName":"j","jobQueue":"{{queue}}","parameters":{"jobQueue":"x"},"jobDefinition":"{{definition}}"}"""));
        Assert.Equal(allowed, refusal is null);
        if (refusal is not null)
        {
            Assert.Equal("BatchSync.NotAllowed", refusal.ErrorName);
            Assert.True(refusal.Message.Contains($"job queue \"{queue}\"") || refusal.Message.Contains($"job definition \"{definition}\""), refusal.Message);
        }
    }

    [Theory]
    [InlineData(null, null)]
    [InlineData("", "")]
    [InlineData(" ", "")]
    public void Empty_lists_allow_everything(string? queues, string? definitions)
    {
        var permissions = SubmitPermissions.FromLists(queues, definitions);
        Assert.True(permissions.AllowsEverything);
        Assert.Null(permissions.Check(Fixtures.Utf8("""{"jobName":"j","jobQueue":"any","jobDefinition":"any"}""")));
    }

    [Fact]
    public async Task A_task_asking_for_a_queue_it_may_not_use_fails_with_NotAllowed_before_anything_is_submitted()
    {
        var world = new FakeWorld();
        var submitter = new JobSubmitter(world.Batch, world.StepFunctions, world.Store, FakeWorld.Namespace, TimeProvider.System)
        {
            Permissions = SubmitPermissions.FromLists(Queues, Definitions),
        };
        var answer = await submitter.SubmitAsync(Fixtures.Utf8("""{"JobName":"j","JobQueue":"team-b","JobDefinition":"etl","TaskToken":"tok-1"}"""));

        Assert.Equal("BatchSync.NotAllowed", answer.Error);
        var sent = Assert.Single(world.StepFunctions.Sent);
        Assert.Equal(("SendTaskFailure", "tok-1", "BatchSync.NotAllowed"), (sent.Operation, sent.Token, sent.Error));
        Assert.Contains("job queue \"team-b\"", sent.Cause);
        Assert.All(world.Store.Records.Values, r => Assert.Null(r.JobId));
        Assert.Empty(world.Batch.Submitted);
        Assert.DoesNotContain(world.Log.Calls, c => c.StartsWith("Batch."));
    }

    [Fact]
    public async Task Without_a_token_a_refused_submit_throws_NotAllowed_and_calls_nothing()
    {
        var world = new FakeWorld();
        var submitter = new JobSubmitter(world.Batch, world.StepFunctions, world.Store, FakeWorld.Namespace, TimeProvider.System)
        {
            Permissions = SubmitPermissions.FromLists(Queues, Definitions),
        };
        var e = await Assert.ThrowsAsync<NotAllowedException>(() => submitter.SubmitAsync(Fixtures.Utf8("""{"JobName":"j","JobQueue":"shared","JobDefinition":"report"}""")));
        Assert.Equal("BatchSync.NotAllowed", e.ErrorName);
        Assert.Empty(world.Log.Calls);

        // The same request on an allowed definition is submitted.
        var answer = await submitter.SubmitAsync(Fixtures.Utf8("""{"JobName":"j","JobQueue":"shared","JobDefinition":"report:3"}"""));
        Assert.Equal("job-1", answer.JobId);
    }
}
