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

    /// <summary>
    /// Each folder of BatchSync.Core and what it may use; the arrows point one way (handlers → composition →
    /// processing → domain; adapters → domain; mapping and failures → domain). Logging is the one cross-cutting
    /// piece (it depends on nothing of ours), Model the Batch shapes the mapping walks. Processing consults one piece of
    /// adapter knowledge, which exceptions are a dependency's failure, and names it in full.
    /// </summary>
    private static readonly Dictionary<string, string[]> Allowed = new()
    {
        ["Domain"] = [],
        ["Model"] = [],
        ["Logging"] = [],
        ["Mapping"] = ["Domain", "Model"],
        ["Failures"] = ["Domain", "Logging"],
        ["Aws"] = ["Domain"],
        ["Store"] = ["Domain", "Aws"],
        ["Processing"] = ["Domain", "Mapping", "Failures", "Logging"],
        ["Composition"] = ["Domain", "Model", "Logging", "Mapping", "Failures", "Aws", "Store", "Processing"],
        ["Handlers"] = ["Composition", "Processing"],
    };

    private static readonly Dictionary<string, string[]> AllowedTypes = new()
    {
        ["Processing"] = ["Aws.DependencyFailures"],
    };

    [Fact]
    public void Each_folder_depends_only_on_what_it_may_use()
    {
        var core = Path.Combine(RepoRoot(), "functions", "BatchSync.Core");
        var sources = Allowed.Keys.Where(layer => layer != "Handlers")
            .SelectMany(layer => Directory.GetFiles(Path.Combine(core, layer), "*.cs", SearchOption.AllDirectories).Select(file => (layer, file)))
            .Concat(Directory.GetDirectories(Path.Combine(RepoRoot(), "functions")).Where(d => !d.EndsWith("BatchSync.Core", StringComparison.Ordinal))
                .Select(d => (layer: "Handlers", file: Path.Combine(d, "Function.cs"))))
            .ToList();
        Assert.Contains(sources, s => s.file.Contains(Path.Combine("Domain", "Decisions"), StringComparison.Ordinal));
        Assert.Equal(4, sources.Count(s => s.layer == "Handlers"));
        var violations = sources.SelectMany(s => Violations(s.layer, File.ReadAllText(s.file)).Select(v => $"{Path.GetRelativePath(RepoRoot(), s.file)}: {v}")).ToList();
        Assert.True(violations.Count == 0, string.Join('\n', violations));
    }

    /// <summary>The loops the layering had before issue 19, each caught (sources as they were then).</summary>
    [Theory]
    [InlineData("Failures", "? new PreparedAnswer(true, result => Processing.TaskResponder.NativeOutput(jobDetail, result), null, null, $\"job {status}\")", "Processing")]
    [InlineData("Failures", "using BatchSync.Mapping;", "Mapping")]
    [InlineData("Mapping", "Failures.TaskAnswers.FailureMember, Failures.TaskAnswers.LinksMember,", "Failures")]
    [InlineData("Mapping", "public Failures.TaskOptions? Options { get; private set; }", "Failures")]
    [InlineData("Processing", "using BatchSync.Store;", "Store")]
    [InlineData("Processing", "using BatchSync.Aws;", "Aws")]
    [InlineData("Domain", "namespace BatchSync.Domain; using BatchSync.Logging;", "Logging")]
    [InlineData("Aws", "JsonText.ToUtf8(request); using BatchSync.Mapping;", "Mapping")]
    public void The_layering_test_catches_the_loops_there_were(string layer, string code, string reached)
    {
        Assert.Contains(Violations(layer, code), v => v.StartsWith($"uses {reached}", StringComparison.Ordinal));
        Assert.Empty(Violations(layer, "// a comment naming Processing.TaskResponder is no dependency\n"));
        Assert.Empty(Violations("Processing", "if (Aws.DependencyFailures.IsDependencyFailure(e))"));
    }

    private static IEnumerable<string> Violations(string layer, string source)
    {
        // Comments and string literals name no dependency.
        var code = string.Join('\n', source.Split('\n').Where(l => !l.TrimStart().StartsWith("//", StringComparison.Ordinal)));
        code = StringLiteral().Replace(code, "\"\"");
        foreach (Match m in Reference().Matches(code))
        {
            var target = m.Groups["long"].Success ? m.Groups["long"].Value : m.Groups["short"].Value;
            if (target == layer || Allowed[layer].Contains(target)
                || (AllowedTypes.TryGetValue(layer, out var types) && types.Any(t => code[m.Index..].StartsWith(t, StringComparison.Ordinal))))
            {
                continue;
            }
            yield return $"uses {target} ({m.Value.Trim()})";
        }
        if (AmazonSdk().IsMatch(code) && layer is not ("Aws" or "Store" or "Composition"))
        {
            yield return $"uses the AWS SDK ({AmazonSdk().Match(code).Value})";
        }
    }

    [GeneratedRegex(@"\bBatchSync\.(?<long>Aws|Store|Mapping|Processing|Failures|Logging|Model|Domain|Composition)\b|(?<![\w.])(?<short>Aws|Store|Mapping|Processing|Failures|Logging|Composition)\.[A-Z]")]
    private static partial Regex Reference();

    [GeneratedRegex(@"\bAmazon\.[A-Z]\w*")]
    private static partial Regex AmazonSdk();

    [GeneratedRegex(@"""(?:[^""\\\n]|\\.)*""")]
    private static partial Regex StringLiteral();

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
