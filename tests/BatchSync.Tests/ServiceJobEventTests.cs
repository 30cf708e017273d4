using System.Text.Json;
using System.Text.Json.Nodes;
using BatchSync.Domain;
using BatchSync.Failures;
using BatchSync.Mapping;

namespace BatchSync.Tests;

/// <summary>
/// Issue 21: service job events, their decisions, the answers written from DescribeServiceJob, typed failures and
/// links. Oracles: the User Guide samples (Fixtures/service-jobs, SOURCES.md), the official model and hand-written
/// expectations.
/// </summary>
public class ServiceJobEventTests
{
    private const string Ns = FakeWorld.Namespace;
    private const string SampleJobId = "0bb17543-ece6-4480-b1a7-a556d344746b";
    private const string SampleTrainingJob = "arn:aws:sagemaker:us-east-1:123456789012:training-job/AWSBatchmy-training-job88b610a69aa8380ca5b0a7aba3f81cb8";
    private static readonly string Key = TaskKey.For("token");

    private static JobStateEvent Parse(byte[] evt) => JobStateEvent.Parse(JsonDocument.Parse(evt).RootElement, copyDetail: true);

    private static JobStateEvent Sample() => Parse(Fixtures.Bytes("service-jobs/event-userguide.json"));

    /// <summary>The User Guide's event with its detail's status (and anything else) changed.</summary>
    public static byte[] SampleEvent(string status, string jobId = SampleJobId, Action<JsonObject>? change = null)
    {
        var evt = Fixtures.Node("service-jobs/event-userguide.json").AsObject();
        var detail = evt["detail"]!.AsObject();
        detail["status"] = status;
        detail["jobId"] = jobId;
        change?.Invoke(detail);
        return Fixtures.Utf8(evt.ToJsonString());
    }

    private static TaskRecord Record(RecordStatus status, string? jobId = SampleJobId) =>
        new() { TaskKey = Key, TaskToken = "token", Status = status, JobId = jobId, JobKind = JobKind.Service };

    private static JsonElement Wire(string json) => JsonDocument.Parse(json).RootElement.Clone();

    // ---- parsing ----

    [Fact]
    public void The_User_Guides_sample_parses_as_a_service_job_event_without_marker()
    {
        var evt = Sample();
        Assert.Equal((SampleJobId, "SUCCEEDED", null, JobKind.Service, true), (evt.JobId, evt.Status, evt.Marker, evt.Kind, evt.IsTerminal));
        Assert.Equal(JobKind.Service, evt.Job.Kind);
        Assert.Equal("event-test", evt.Job.JobName);
        Assert.Equal(1641944200058, evt.Job.CreatedAt);
    }

    [Fact]
    public void Both_detail_types_are_parsed_and_others_refused_by_name()
    {
        Assert.Equal(JobKind.Container, Parse(FakeWorld.Event("job-1", "RUNNING", "teststack:k")).Kind);
        Assert.Equal(JobKind.Service, Parse(SampleEvent("RUNNING")).Kind);

        var other = Fixtures.Node("service-jobs/event-userguide.json").AsObject();
        other["detail-type"] = "Batch Service Job Status Change";
        var e = Assert.Throws<InvalidEventException>(() => Parse(Fixtures.Utf8(other.ToJsonString())));
        Assert.Contains("Batch Job State Change", e.Message);
        Assert.Contains("Batch Service Job State Change", e.Message);
    }

    [Fact]
    public void A_service_events_marker_is_never_read_from_the_event()
    {
        // The User Guide: tags are not in the event detail; even if one came, the record naming the job decides.
        var evt = Parse(SampleEvent("RUNNING", change: d => d["tags"] = new JsonObject { [TaskKey.MarkerParameter] = TaskKey.Marker(Ns, Key) }));
        Assert.Null(evt.Marker);
    }

    [Fact]
    public void A_container_event_without_serviceJobType_is_a_container_jobs()
    {
        var evt = Parse(FakeWorld.Event("job-1", "RUNNING", "teststack:k"));
        Assert.Equal(JobKind.Container, evt.Job.Kind);
        Assert.Equal("teststack:k", evt.Marker);
    }

    // ---- decisions ----

    /// <summary>The model's ServiceJobStatus values.</summary>
    public static TheoryData<string> ServiceStatuses()
    {
        var model = Fixtures.Node("aws-models/batch-2016-08-10.service-2.json")["shapes"]!["ServiceJobStatus"]!["enum"]!.AsArray();
        var data = new TheoryData<string>();
        foreach (var status in model)
        {
            data.Add((string)status!);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(ServiceStatuses))]
    public void A_service_event_no_record_names_is_ignored_as_foreign(string status)
    {
        var evt = Parse(SampleEvent(status));
        Assert.Equal(TaskDecisions.ForeignServiceJob, Assert.IsType<EventDecision.Ignore>(TaskDecisions.OnJobEvent(evt, Ns, null)).Why);
        // A record naming another job is not this job's either.
        Assert.IsType<EventDecision.Ignore>(TaskDecisions.OnJobEvent(evt, Ns, Record(RecordStatus.Submitted, "other-job")));
        Assert.IsType<EventDecision.Ignore>(TaskDecisions.OnJobEvent(evt, Ns, Record(RecordStatus.Submitting, null)));
    }

    [Theory]
    [MemberData(nameof(ServiceStatuses))]
    public void A_service_event_of_the_job_its_record_names_is_delivered_when_final_and_heartbeats_otherwise(string status)
    {
        var decision = TaskDecisions.OnJobEvent(Parse(SampleEvent(status)), Ns, Record(RecordStatus.Submitted));
        switch (status)
        {
            case "SUCCEEDED":
                Assert.True(Assert.IsType<EventDecision.Deliver>(decision).Succeeded);
                break;
            case "FAILED":
                Assert.False(Assert.IsType<EventDecision.Deliver>(decision).Succeeded);
                break;
            default:
                // SCHEDULED is a service job's own state: on its way, not final.
                Assert.False(Assert.IsType<EventDecision.Heartbeat>(decision).AttachJobId);
                break;
        }
    }

    [Theory]
    [InlineData(RecordStatus.Succeeded)]
    [InlineData(RecordStatus.Failed)]
    [InlineData(RecordStatus.Closed)]
    public void A_service_event_after_the_task_ended_changes_nothing(RecordStatus ended)
    {
        foreach (var status in new[] { "RUNNING", "SUCCEEDED", "FAILED" })
        {
            Assert.IsType<EventDecision.Ignore>(TaskDecisions.OnJobEvent(Parse(SampleEvent(status)), Ns, Record(ended)));
        }
    }

    [Fact]
    public void A_running_service_job_with_our_marker_read_from_Batch_follows_the_container_rules()
    {
        // The processor reads the marker with DescribeServiceJob when no record names the job.
        var evt = Parse(SampleEvent("RUNNING")) with { Marker = TaskKey.Marker(Ns, Key) };
        Assert.True(Assert.IsType<EventDecision.Heartbeat>(TaskDecisions.OnJobEvent(evt, Ns, Record(RecordStatus.Submitting, null))).AttachJobId);
        Assert.IsType<EventDecision.Terminate>(TaskDecisions.OnJobEvent(evt, Ns, Record(RecordStatus.Submitted, "the-first-job")));
        Assert.IsType<EventDecision.Ignore>(TaskDecisions.OnJobEvent(evt with { Marker = TaskKey.Marker("otherstack", Key) }, Ns, null));
    }

    // ---- the answer: DescribeServiceJob in PascalCase, sorted ----

    [Fact]
    public void The_answer_of_the_getting_started_describe_is_it_in_PascalCase_with_members_sorted()
    {
        var described = Fixtures.Element("service-jobs/describe-getting-started.json");
        var expected = """
            {"Attempts":[{"ServiceResourceId":{"Name":"TrainingJobArn","Value":"arn:aws:sagemaker:{{your-region}}:{{your-account-id}}:training-job/AWSBatch{{<my-simple-training-job>}}{{<your-attempt-id>}}"},"StartedAt":1753718820,"StatusReason":"Received status from SageMaker: Training job completed","StoppedAt":1753718880}],
             "CreatedAt":1753718760,
             "JobArn":"arn:aws:batch:{{your-region}}:{{your-account-id}}:service-job/{{your-job-id}}",
             "JobId":"{{your-job-id}}",
             "JobName":"{{my-batch-sm-job}}",
             "JobQueue":"arn:aws:batch:{{your-region}}:{{your-account-id}}:job-queue/{{my-sm-training-fifo-jq}}",
             "LatestAttempt":{"ServiceResourceId":{"Name":"TrainingJobArn","Value":"arn:aws:sagemaker:{{your-region}}:{{your-account-id}}:training-job/AWSBatch{{<my-simple-training-job>}}{{<your-attempt-id>}}"}},
             "RetryStrategy":{"Attempts":1,"EvaluateOnExit":[]},
             "ServiceJobType":"SAGEMAKER_TRAINING",
             "ServiceRequestPayload":"{{your-training-job-request-json}}",
             "StartedAt":1753718820,
             "Status":"SUCCEEDED",
             "StatusReason":"Received status from SageMaker: Training job completed",
             "StoppedAt":1753718880,
             "Tags":{},
             "TimeoutConfig":{"AttemptDurationSeconds":60}}
            """;
        Fixtures.AssertSameJson(JsonNode.Parse(expected), JsonNode.Parse(NativeOutputMapper.ToNativeText(described, OutputBudget.Output)));
    }

    [Fact]
    public void The_answer_keeps_every_member_of_the_models_describe_answer_under_its_PascalCase_name()
    {
        // Members the samples lack, from the model's DescribeServiceJobResponse, each written once.
        var wire = """
            {"jobId":"j-1","jobName":"n","jobQueue":"q","serviceJobType":"SAGEMAKER_TRAINING","startedAt":2,"status":"FAILED","isTerminated":true,
             "capacityUsage":[{"capacityUnit":"ml.m5.large","quantity":1.0}],"scheduledAt":1,"schedulingPriority":5,"shareIdentifier":"blue","quotaShareName":"qs",
             "preemptionConfiguration":{"preemptionRetriesBeforeTermination":2},
             "preemptionSummary":{"preemptedAttemptCount":1,"recentPreemptedAttempts":[{"serviceResourceId":{"name":"TrainingJobArn","value":"arn:x"},"startedAt":1,"stoppedAt":2,"statusReason":"preempted"}]},
             "tags":{"team":"ml"}}
            """;
        var native = JsonNode.Parse(NativeOutputMapper.ToNativeText(Wire(wire), OutputBudget.Output))!.AsObject();
        Assert.Equal(["CapacityUsage", "IsTerminated", "JobId", "JobName", "JobQueue", "PreemptionConfiguration", "PreemptionSummary", "QuotaShareName",
            "ScheduledAt", "SchedulingPriority", "ServiceJobType", "ShareIdentifier", "StartedAt", "Status", "Tags"], native.Select(m => m.Key));
        Assert.Equal("""{"CapacityUnit":"ml.m5.large","Quantity":1.0}""", native["CapacityUsage"]![0]!.ToJsonString());
        Assert.Equal("""{"PreemptedAttemptCount":1,"RecentPreemptedAttempts":[{"ServiceResourceId":{"Name":"TrainingJobArn","Value":"arn:x"},"StartedAt":1,"StatusReason":"preempted","StoppedAt":2}]}""",
            native["PreemptionSummary"]!.ToJsonString());
        Assert.Equal("""{"team":"ml"}""", native["Tags"]!.ToJsonString());
    }

    [Fact]
    public void Every_member_of_the_models_DescribeServiceJobResponse_is_known_to_the_writer()
    {
        // Members the writer does not know keep their value under a PascalCase name anyway; here each must be in the model.
        var model = Fixtures.Node("aws-models/batch-2016-08-10.service-2.json")["shapes"]!["DescribeServiceJobResponse"]!["members"]!.AsObject();
        var shape = Model.BatchShapes.Instance["DescribeServiceJobResponse"];
        Assert.Equal(model.Select(m => m.Key).Order(StringComparer.Ordinal), shape.Members.Select(m => m.WireName).Order(StringComparer.Ordinal));
    }

    // ---- typed failures ----

    /// <summary>A FAILED DescribeServiceJob answer shaped as the User Guide's samples are.</summary>
    public static string FailedDescribe(string reason, bool terminated = false, int attempts = 1)
    {
        var list = new JsonArray();
        for (var i = 1; i <= attempts; i++)
        {
            list.Add(new JsonObject
            {
                ["serviceResourceId"] = new JsonObject { ["name"] = "TrainingJobArn", ["value"] = $"{SampleTrainingJob}-{i}" },
                ["startedAt"] = i * 100, ["stoppedAt"] = i * 100 + 50, ["statusReason"] = $"{reason} ({i})",
            });
        }
        var job = new JsonObject
        {
            ["attempts"] = list, ["createdAt"] = 1641944200058, ["jobArn"] = $"arn:aws:batch:us-east-1:123456789012:service-job/{SampleJobId}",
            ["jobId"] = SampleJobId, ["jobName"] = "event-test", ["jobQueue"] = "arn:aws:batch:us-east-1:123456789012:job-queue/HappyPathJobQueue",
            ["latestAttempt"] = new JsonObject { ["serviceResourceId"] = new JsonObject { ["name"] = "TrainingJobArn", ["value"] = SampleTrainingJob } },
            ["serviceJobType"] = "SAGEMAKER_TRAINING", ["startedAt"] = 1641944300058, ["status"] = "FAILED", ["statusReason"] = reason, ["stoppedAt"] = 1641944400058,
        };
        if (terminated)
        {
            job["isTerminated"] = true;
        }
        return job.ToJsonString();
    }

    [Fact]
    public void A_SageMaker_failure_is_TrainingJobFailed_with_the_training_jobs_ARN()
    {
        const string Reason = "Received status from SageMaker: AlgorithmError: framework error, exit code 1";
        var c = FailureClassifier.Classify(Wire(FailedDescribe(Reason, attempts: 2)));
        Assert.Equal(new FailureClassification("BatchJob.TrainingJobFailed", 2, null, Reason, null, null, SampleTrainingJob), c);
    }

    [Fact]
    public void A_terminated_service_job_is_Terminated_whatever_its_reason()
    {
        var c = FailureClassifier.Classify(Wire(FailedDescribe("Received status from SageMaker: Training job stopped", terminated: true)));
        Assert.Equal(("BatchJob.Terminated", "Received status from SageMaker: Training job stopped", SampleTrainingJob), (c.Kind, c.Reason, c.TrainingJobArn));
    }

    [Fact]
    public void A_timed_out_service_job_is_AttemptTimeout()
    {
        var c = FailureClassifier.Classify(Wire(FailedDescribe("Job attempt duration exceeded timeout")));
        Assert.Equal(("BatchJob.AttemptTimeout", 1), (c.Kind, c.Attempt));
    }

    [Fact]
    public void Any_other_service_failure_is_Failed_and_a_job_with_no_attempt_has_no_attempt_number()
    {
        var c = FailureClassifier.Classify(Wire("""{"jobId":"j","jobName":"n","jobQueue":"q","serviceJobType":"SAGEMAKER_TRAINING","status":"FAILED","statusReason":"Capacity unavailable"}"""));
        Assert.Equal(new FailureClassification("BatchJob.Failed", null, null, "Capacity unavailable", null, null, null), c);
    }

    [Fact]
    public void The_training_jobs_ARN_comes_from_the_latest_attempt_named_TrainingJobArn_only()
    {
        Assert.Equal(SampleTrainingJob, FailureClassifier.TrainingJobArn(Sample().Detail));
        Assert.Null(FailureClassifier.TrainingJobArn(Wire("""{"latestAttempt":{"serviceResourceId":{"name":"Other","value":"x"}}}""")));
        Assert.Null(FailureClassifier.TrainingJobArn(Wire("""{"attempts":[{"serviceResourceId":{"name":"TrainingJobArn","value":"x"}}]}""")));
    }

    [Fact]
    public void A_service_jobs_links_are_its_training_jobs_page_and_logs_in_its_region()
    {
        var links = ConsoleLinks.For(Sample().Detail, "arn:aws:states:us-east-1:123456789012:execution:flow:run-7")!;
        const string Name = "AWSBatchmy-training-job88b610a69aa8380ca5b0a7aba3f81cb8";
        Assert.Equal(
            $$"""{"Execution":"https://us-east-1.console.aws.amazon.com/states/home?region=us-east-1#/v2/executions/details/arn:aws:states:us-east-1:123456789012:execution:flow:run-7","TrainingJob":"https://us-east-1.console.aws.amazon.com/sagemaker/home?region=us-east-1#/jobs/{{Name}}","TrainingJobLogs":"https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#logStream:group=/aws/sagemaker/TrainingJobs;prefix={{Name}};streamFilter=typeLogStreamPrefix"}""",
            links.ToJsonString());
        // Without a training job yet (a failure before SCHEDULED), no links of it, and no Batch page (undocumented).
        var none = ConsoleLinks.For(Wire("""{"jobArn":"arn:aws:batch:eu-west-1:123456789012:service-job/j","jobId":"j","serviceJobType":"SAGEMAKER_TRAINING"}"""), null)!;
        Assert.Empty(none);
    }

    [Fact]
    public async Task A_service_job_gets_no_log_tail_but_says_where_its_logs_are()
    {
        var detail = Wire(FailedDescribe("Received status from SageMaker: AlgorithmError"));
        var tail = await LogTail.ReadAsync(detail, FailureClassifier.Classify(detail), 10, AnswerSettings.Native, CancellationToken.None);
        Assert.Contains("/aws/sagemaker/TrainingJobs", (string)tail["Omitted"]!);
    }
}
