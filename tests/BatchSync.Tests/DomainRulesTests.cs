using System.Text.RegularExpressions;
using BatchSync.Domain;

namespace BatchSync.Tests;

/// <summary>The rules that moved into the decision core, each once, and the core's independence from its adapters.</summary>
public partial class DomainRulesTests
{
    private const string Ns = FakeWorld.Namespace;
    private static readonly string Key = TaskKey.For("token");

    [Theory]
    [InlineData("job-1", true, null)]
    [InlineData("job-1:7", true, "array child or multi-node node job: its parent's events answer the task")]
    [InlineData("job-1#2", true, "array child or multi-node node job: its parent's events answer the task")]
    [InlineData("job-1", false, "job was not submitted by BatchSync")]
    public void A_job_is_ours_only_if_it_is_no_child_and_carries_this_deployments_marker(string jobId, bool marked, string? whyNot)
    {
        var owner = TaskDecisions.OwnerOf(jobId, marked ? TaskKey.Marker(Ns, Key) : null, Ns);
        if (whyNot is null)
        {
            Assert.Equal(new Ownership.Ours(Key), owner);
        }
        else
        {
            Assert.Equal(whyNot, Assert.IsType<Ownership.NotOurs>(owner).Why);
        }
        Assert.Equal("job belongs to BatchSync deployment 'other'", Assert.IsType<Ownership.NotOurs>(TaskDecisions.OwnerOf("job-1", TaskKey.Marker("other", Key), Ns)).Why);
    }

    [Theory]
    [InlineData("SUCCEEDED", true)]
    [InlineData("FAILED", false)]
    [InlineData("RUNNING", null)]
    [InlineData("SUBMITTED", null)]
    [InlineData("succeeded", null)]
    public void Only_the_two_final_statuses_end_a_job(string status, bool? outcome)
    {
        Assert.Equal(outcome, JobStatus.Outcome(status));
        Assert.Equal(outcome is not null, JobStatus.IsFinal(status));
    }

    [Fact]
    public void A_rejected_payload_fails_through_a_record_only_when_the_record_is_the_rejections_own()
    {
        var own = TaskDecisions.RejectedRecord(Key, "token", 1_000);
        Assert.Equal((RecordStatus.Submitting, SubmitState.NotSent, TaskDecisions.RejectedPayloadReason), (own.Status, own.Submit, own.Reason));
        Assert.True(TaskDecisions.IsRejectionRecord(own));
        Assert.False(TaskDecisions.IsRejectionRecord(own with { JobId = "job-1" }));
        Assert.False(TaskDecisions.IsRejectionRecord(own with { Submit = SubmitState.Leased }));
        Assert.False(TaskDecisions.IsRejectionRecord(own with { Reason = "SubmitJob never reached Batch: throttled" }));
    }

    [Fact]
    public void SubmitJob_answers_the_job_or_says_why_there_is_none()
    {
        var job = new SubmittedJob("arn:job", "job-1", "name");
        var open = new TaskRecord { TaskKey = Key, TaskToken = "token", Status = RecordStatus.Submitting, JobName = "name" };
        var ended = open with { Status = RecordStatus.Closed, Reason = "execution aborted" };
        Assert.Equal(new SubmitStanding("arn:job", "job-1", "name"), TaskDecisions.StandingAfterAttach(job, terminated: false, after: null));
        Assert.Equal(new SubmitStanding(null, null, "name", "the task already ended (Closed): execution aborted"), TaskDecisions.StandingAfterAttach(job, terminated: true, ended));
        Assert.Equal(new SubmitStanding(null, null, "name", "the task's record is gone"), TaskDecisions.StandingAfterAttach(job, terminated: true, after: null));
        Assert.Equal(new SubmitStanding(null, null, "name", "the job is being submitted"), TaskDecisions.StandingOf(open));
        Assert.Equal(new SubmitStanding("arn:other", "job-2", "name"), TaskDecisions.StandingOf(open with { JobId = "job-2", JobArn = "arn:other" }));
    }

    [Fact]
    public void The_search_for_a_records_job_reaches_back_to_a_minute_before_the_record()
    {
        var record = new TaskRecord { TaskKey = Key, TaskToken = "token", Status = RecordStatus.Submitting, JobName = "name", CreatedAt = 600_000 };
        JobSummary Listed(long? createdAt, string name = "name") => new("j", name, "RUNNING", createdAt);
        Assert.True(TaskDecisions.MayBeTheJob(Listed(540_000), record));
        Assert.False(TaskDecisions.MayBeTheJob(Listed(539_999), record));
        Assert.True(TaskDecisions.MayBeTheJob(Listed(null), record));
        Assert.False(TaskDecisions.MayBeTheJob(Listed(700_000, "Name"), record));
        Assert.True(TaskDecisions.SearchIsPast([Listed(539_999), Listed(1)], record));
        Assert.False(TaskDecisions.SearchIsPast([Listed(539_999), Listed(540_000)], record));
        Assert.False(TaskDecisions.SearchIsPast([Listed(null)], record));
        Assert.False(TaskDecisions.SearchIsPast([], record));
    }

    [Fact]
    public void The_domain_depends_on_nothing_but_the_base_library()
    {
        var domain = Path.Combine(RepoRoot(), "functions", "BatchSync.Core", "Domain");
        var files = Directory.GetFiles(domain, "*.cs");
        Assert.NotEmpty(files);
        foreach (var file in files)
        {
            var code = string.Join('\n', File.ReadAllLines(file).Where(l => !l.TrimStart().StartsWith("//", StringComparison.Ordinal)));
            Assert.False(Outward().IsMatch(code), $"{Path.GetFileName(file)} reaches outside the domain: {Outward().Match(code).Value}");
        }
    }

    [GeneratedRegex(@"\bBatchSync\.(Aws|Store|Mapping|Processing|Failures|Logging|Model)\b|\b(Aws|Store|Mapping|Processing|Failures|Logging)\.[A-Z]|\bAmazon\.")]
    private static partial Regex Outward();

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Functions.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("Functions.sln not found above the test's directory");
    }
}
