using System.Text.Json;
using System.Text.Json.Nodes;
using BatchSync.Failures;

namespace BatchSync.Tests;

/// <summary>
/// The classifier against published failed jobs (Fixtures/failed-jobs, Fixtures/native-sync; provenance in SOURCES.md)
/// and against each precedence rule. Expected names and values are read off the captures by hand.
/// </summary>
public class FailureClassifierTests
{
    private static JsonElement Wire(string json) => JsonDocument.Parse(json).RootElement.Clone();

    /// <summary>A native Cause (PascalCase JobDetail text) turned back into the wire JobDetail DescribeJobs gave.</summary>
    private static JsonElement FromNativeCause(string relative)
    {
        var cause = (string)Fixtures.Node(relative)["Cause"]!;
        return Wire(NativeOutputMapperTests.WireFromNative(JsonNode.Parse(cause), "JobDetail")!.ToJsonString());
    }

    [Fact]
    public void A_real_non_zero_exit_is_NonZeroExit_with_its_attempt_code_and_log_stream()
    {
        var c = FailureClassifier.Classify(FromNativeCause("native-sync/failed-error-cause.json"));
        Assert.Equal(new FailureClassification(FailureKinds.NonZeroExit, 1, 1, "Essential container in task exited", null,
            "LandsatTaskBatchJob1274-131d33be785ce5d/default/7c7cd09e-33c0-44f5-919a-2f66e0b8e995"), c);
    }

    [Fact]
    public void A_real_non_zero_exit_takes_the_tasks_name_for_its_code()
    {
        var c = FailureClassifier.Classify(FromNativeCause("native-sync/failed-error-cause.json"), new Dictionary<int, string> { [1] = "Landsat.Failed" });
        Assert.Equal("Landsat.Failed", c.Kind);
        Assert.Equal(1, c.ExitCode);
    }

    [Fact]
    public void A_real_failure_without_exit_code_is_Failed_with_the_containers_reason()
    {
        var c = FailureClassifier.Classify(FromNativeCause("failed-jobs/no-exit-code-native-cause.json"));
        Assert.Equal(new FailureClassification(FailureKinds.Failed, 1, null,
            "CannotInspectContainerError: Could not transition to inspecting; timed out after waiting 30s", null,
            "LandsatTileTaskBatchJob-b28764e72fd8fa9/default/2b098699-be60-4a6d-9799-34d9ad2fff95"), c);
    }

    [Fact]
    public void A_real_image_pull_failure_is_CannotPullContainer_not_TaskFailedToStart()
    {
        var c = FailureClassifier.Classify(Fixtures.Element("failed-jobs/cannot-pull-describe-jobs.json"));
        Assert.Equal(FailureKinds.CannotPullContainer, c.Kind);
        Assert.Null(c.Attempt);
        Assert.Null(c.ExitCode);
        Assert.StartsWith("CannotPullContainerError: Error response from daemon: manifest for", c.Reason);
    }

    [Fact]
    public void A_host_terminated_under_the_attempt_is_HostTerminated()
    {
        var c = FailureClassifier.Classify(Fixtures.Element("failed-jobs/host-terminated-adapted.json"));
        Assert.Equal(new FailureClassification(FailureKinds.HostTerminated, 1, null, "Host EC2 (instance i-04b17daec78ef4a0b) terminated.", null, null), c);
    }

    [Fact]
    public void Only_the_latest_attempt_counts_an_earlier_host_loss_does_not()
    {
        var job = Fixtures.Node("failed-jobs/host-terminated-then-succeeded-adapted.json").AsObject();
        job["status"] = "FAILED";
        job["attempts"]![1]!["container"]!["exitCode"] = 2;
        var c = FailureClassifier.Classify(Wire(job.ToJsonString()));
        Assert.Equal(FailureKinds.NonZeroExit, c.Kind);
        Assert.Equal(2, c.Attempt);
        Assert.Equal(2, c.ExitCode);
    }

    [Fact]
    public void Out_of_memory_is_OutOfMemory_with_137()
    {
        var c = FailureClassifier.Classify(Fixtures.Element("failed-jobs/out-of-memory-adapted.json"));
        Assert.Equal(new FailureClassification(FailureKinds.OutOfMemory, 1, 137, "OutOfMemoryError: Container killed due to memory usage", null,
            "oom-job-definition/default/0e1f5a5200004000800000000001187"), c);
    }

    [Fact]
    public void A_timeout_is_AttemptTimeout_although_it_exits_137()
    {
        var c = FailureClassifier.Classify(Fixtures.Element("failed-jobs/attempt-timeout-adapted.json"), new Dictionary<int, string> { [137] = "Killed" });
        Assert.Equal(FailureKinds.AttemptTimeout, c.Kind);
        Assert.Equal(137, c.ExitCode);
        Assert.Equal("Job attempt duration exceeded timeout", c.Reason);
    }

    // Precedence, one rule against the next, on the smallest JobDetail that shows it.
    [Theory]
    [InlineData("timeout beats out-of-memory",
        """{"attempts":[{"statusReason":"Job attempt duration exceeded timeout","container":{"exitCode":137,"reason":"OutOfMemoryError: Container killed due to memory usage"}}]}""",
        FailureKinds.AttemptTimeout)]
    [InlineData("timeout beats terminated",
        """{"isTerminated":true,"statusReason":"Job attempt duration exceeded timeout","attempts":[]}""", FailureKinds.AttemptTimeout)]
    [InlineData("cancelled beats everything after it",
        """{"isCancelled":true,"statusReason":"Dependent job failed"}""", FailureKinds.Cancelled)]
    [InlineData("terminated beats a host loss",
        """{"isTerminated":true,"statusReason":"stopped by operator","attempts":[{"statusReason":"Host EC2 (instance i-1) terminated."}]}""", FailureKinds.Terminated)]
    [InlineData("host loss beats out-of-memory",
        """{"attempts":[{"statusReason":"Host EC2 (instance i-1) terminated.","container":{"exitCode":137,"reason":"OutOfMemoryError: Container killed due to memory usage"}}]}""",
        FailureKinds.HostTerminated)]
    [InlineData("Fargate Spot interruption",
        """{"attempts":[{"statusReason":"Your Spot Task was interrupted.","container":{"exitCode":143}}]}""", FailureKinds.SpotInterrupted)]
    [InlineData("out-of-memory beats a non-zero exit mapped by the task",
        """{"attempts":[{"statusReason":"Essential container in task exited","container":{"exitCode":3,"reason":"OutOfMemoryError: Container killed due to memory usage"}}]}""",
        FailureKinds.OutOfMemory)]
    [InlineData("image pull beats task failed to start",
        """{"statusReason":"Task failed to start","attempts":[{"statusReason":"Task failed to start","container":{"reason":"CannotPullContainerError: pull access denied"}}]}""",
        FailureKinds.CannotPullContainer)]
    [InlineData("task failed to start, for another reason",
        """{"statusReason":"Task failed to start","attempts":[{"statusReason":"Task failed to start","container":{"reason":"DockerTimeoutError: Could not transition to created; timed out after waiting 4m0s"}}]}""",
        FailureKinds.TaskFailedToStart)]
    [InlineData("the task's exit code name",
        """{"attempts":[{"statusReason":"Essential container in task exited","container":{"exitCode":3}}]}""", "Model.Diverged")]
    [InlineData("an unmapped exit code",
        """{"attempts":[{"statusReason":"Essential container in task exited","container":{"exitCode":4}}]}""", FailureKinds.NonZeroExit)]
    [InlineData("the job's reason when the attempt has none",
        """{"statusReason":"Host EC2 (instance i-1) terminated.","attempts":[{"container":{"exitCode":143}}]}""", FailureKinds.HostTerminated)]
    [InlineData("nothing to go on",
        """{"status":"FAILED"}""", FailureKinds.Failed)]
    [InlineData("exit code 0 is no exit failure",
        """{"statusReason":"Dependent job failed","container":{"exitCode":0}}""", FailureKinds.Failed)]
    [InlineData("reasons are matched ignoring case, as evaluateOnExit does",
        """{"attempts":[{"statusReason":"job attempt duration exceeded timeout"}]}""", FailureKinds.AttemptTimeout)]
    public void Precedence(string rule, string job, string expected)
    {
        var c = FailureClassifier.Classify(Wire(job), new Dictionary<int, string> { [3] = "Model.Diverged" });
        Assert.True(expected == c.Kind, $"{rule}: expected {expected}, got {c.Kind}");
    }

    [Fact]
    public void ECS_properties_task_containers_name_the_container_that_failed()
    {
        var c = FailureClassifier.Classify(Wire("""
            {"attempts":[{"statusReason":"Essential container in task exited","taskProperties":[{"containers":[
              {"name":"sidecar","exitCode":0,"logStreamName":"s/default/1"},
              {"name":"app","exitCode":2,"reason":"boom","logStreamName":"a/default/1"}]}]}]}
            """));
        Assert.Equal(new FailureClassification(FailureKinds.NonZeroExit, 1, 2, "boom", "app", "a/default/1"), c);
    }

    [Fact]
    public void ECS_properties_out_of_memory_in_any_container()
    {
        var c = FailureClassifier.Classify(Wire("""
            {"attempts":[{"statusReason":"Essential container in task exited","taskProperties":[{"containers":[
              {"name":"app","exitCode":1},
              {"name":"cache","exitCode":137,"reason":"OutOfMemoryError: Container killed due to memory usage"}]}]}]}
            """));
        Assert.Equal(FailureKinds.OutOfMemory, c.Kind);
        Assert.Equal("cache", c.Container);
    }

    [Fact]
    public void EKS_attempts_are_read_with_their_containers()
    {
        var c = FailureClassifier.Classify(Wire("""
            {"eksAttempts":[{"statusReason":"x"},{"statusReason":"Pod failed","containers":[{"name":"main","exitCode":5,"reason":"Error"}]}]}
            """), new Dictionary<int, string> { [5] = "Data.Missing" });
        Assert.Equal(new FailureClassification("Data.Missing", 2, 5, "Error", "main", null), c);
    }

    [Fact]
    public void Without_attempts_the_jobs_own_containers_are_read()
    {
        var c = FailureClassifier.Classify(Wire("""
            {"statusReason":"Essential container in task exited","ecsProperties":{"taskProperties":[{"containers":[{"name":"app","exitCode":9}]}]}}
            """));
        Assert.Equal(new FailureClassification(FailureKinds.NonZeroExit, null, 9, "Essential container in task exited", "app", null), c);
    }
}
