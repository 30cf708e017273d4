using System.Net;
using System.Text.Json.Nodes;
using BatchSync.Aws;
using BatchSync.IntegrationTests.Moto;
using BatchSync.Model;

namespace BatchSync.IntegrationTests.ServiceJobs;

/// <summary>
/// <see cref="BatchSync.LocalWorld.ServiceJobs"/>: Batch's service-job API (which moto 5.2.1 lacks) answered by a stand-in in front
/// of moto, strict per the official model and the documented limits; the calls are signed as BatchSync's own are
/// (<see cref="AwsWorld.BatchAsync"/> through <see cref="AwsTransport"/>).
/// </summary>
[Collection(MotoCollection.Name)]
public sealed class ServiceJobsTests(MotoFixture moto)
{
    private const string Region = "eu-south-1";

    /// <summary>The User Guide's example payload ("Service job payloads"), a CreateTrainingJob request as a string.</summary>
    private const string Payload =
        """{"TrainingJobName": "my-simple-training-job", "RoleArn": "arn:aws:iam::123456789012:role/SageMakerExecutionRole", "AlgorithmSpecification": {"TrainingInputMode": "File", "TrainingImage": "763104351884.dkr.ecr.us-west-2.amazonaws.com/pytorch-training:2.0.0-cpu-py310", "ContainerEntrypoint": ["echo", "hello world"]}, "ResourceConfig": {"InstanceType": "ml.c5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 1}, "OutputDataConfig": {"S3OutputPath": "s3://your-output-bucket/output"}, "StoppingCondition": {"MaxRuntimeInSeconds": 30}}""";

    private static string FixturePath(string name) => Path.Combine(SamTemplate.RepoRoot, "tests", "BatchSync.Tests", "Fixtures", "service-jobs", name);

    private static JsonObject Submit(string name = "my-batch-sm-job", string queue = "sm-queue", string payload = Payload) => new()
    {
        ["jobName"] = name, ["jobQueue"] = queue, ["serviceJobType"] = "SAGEMAKER_TRAINING", ["serviceRequestPayload"] = payload,
    };

    private (BatchSync.LocalWorld.ServiceJobs Jobs, AwsWorld World) Start(string region = Region)
    {
        var jobs = new BatchSync.LocalWorld.ServiceJobs(moto.Server.Endpoint);
        jobs.AddQueue("sm-queue", region);
        return (jobs, new AwsWorld(jobs.Endpoint, region, "batchsync-servicejobs"));
    }

    private static async Task<string> Refused(Func<Task> call)
    {
        var e = await Assert.ThrowsAsync<AwsServiceException>(call);
        Assert.Equal("ClientException", e.ErrorCode);
        Assert.Equal(HttpStatusCode.BadRequest, e.StatusCode);
        return e.ServiceMessage ?? "";
    }

    [Fact]
    public async Task ServiceJobs_submit_and_describe_round_trip_through_every_status()
    {
        var (jobs, world) = Start();
        using var owned = jobs;
        var request = Submit();
        request["retryStrategy"] = new JsonObject { ["attempts"] = 1 };
        request["timeoutConfig"] = new JsonObject { ["attemptDurationSeconds"] = 60 };
        request["schedulingPriority"] = 5;
        request["tags"] = new JsonObject { ["project"] = "issue-21" };
        var before = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var submitted = await world.BatchAsync("SubmitServiceJob", request);
        var jobId = (string)submitted["jobId"]!;
        Assert.True(Guid.TryParse(jobId, out _));
        Assert.Equal($"arn:aws:batch:{Region}:{AwsWorld.Account}:service-job/{jobId}", (string)submitted["jobArn"]!);
        Assert.Equal("my-batch-sm-job", (string)submitted["jobName"]!);

        var described = await world.BatchAsync("DescribeServiceJob", new JsonObject { ["jobId"] = jobId });
        Assert.Equal("SUBMITTED", (string)described["status"]!);
        Assert.Equal($"arn:aws:batch:{Region}:{AwsWorld.Account}:job-queue/sm-queue", (string)described["jobQueue"]!);
        Assert.Equal(Payload, (string)described["serviceRequestPayload"]!);
        Assert.Equal("issue-21", (string)described["tags"]!["project"]!);
        Assert.Equal(5, (int)described["schedulingPriority"]!);
        Assert.Equal("""{"attempts":1,"evaluateOnExit":[]}""", described["retryStrategy"]!.ToJsonString());
        Assert.InRange((long)described["createdAt"]!, before, before + 60_000);
        Assert.Null(described["startedAt"]);
        Assert.Null(described["latestAttempt"]);
        // By ARN too (the SageMaker Python SDK passes the ARN as jobId).
        var byArn = await world.BatchAsync("DescribeServiceJob", new JsonObject { ["jobId"] = submitted["jobArn"]!.DeepClone() });
        Assert.Equal(jobId, (string)byArn["jobId"]!);

        jobs.Advance(jobId, "SCHEDULED");
        described = await world.BatchAsync("DescribeServiceJob", new JsonObject { ["jobId"] = jobId });
        Assert.Equal("SCHEDULED", (string)described["status"]!);
        var trainingJob = (string)described["latestAttempt"]!["serviceResourceId"]!["value"]!;
        Assert.Equal("TrainingJobArn", (string)described["latestAttempt"]!["serviceResourceId"]!["name"]!);
        Assert.Matches($"^arn:aws:sagemaker:{Region}:{AwsWorld.Account}:training-job/AWSBatchmy-simple-training-job[0-9a-f]{{32}}$", trainingJob);
        Assert.NotNull(described["scheduledAt"]);

        jobs.Advance(jobId, "RUNNING");
        Assert.Equal("RUNNING", (string)(await world.BatchAsync("DescribeServiceJob", new JsonObject { ["jobId"] = jobId }))["status"]!);
        jobs.Succeed(jobId);
        described = await world.BatchAsync("DescribeServiceJob", new JsonObject { ["jobId"] = jobId });
        Assert.Equal("SUCCEEDED", (string)described["status"]!);
        Assert.Equal("Received status from SageMaker: Training job completed", (string)described["statusReason"]!);
        var attempt = described["attempts"]!.AsArray().Single()!;
        Assert.Equal(trainingJob, (string)attempt["serviceResourceId"]!["value"]!);
        Assert.Equal("Received status from SageMaker: Training job completed", (string)attempt["statusReason"]!);
        Assert.NotNull(described["startedAt"]);
        Assert.True((long)described["stoppedAt"]! >= (long)described["startedAt"]!);
        Assert.Null(described["isTerminated"]);
        Assert.Throws<InvalidOperationException>(() => jobs.Advance(jobId, "RUNNING"));

        // A capacity retry: SCHEDULED back to RUNNABLE ends the attempt; the next SCHEDULED names a new training job.
        var second = (string)(await world.BatchAsync("SubmitServiceJob", Submit("capacity-retry")))["jobId"]!;
        jobs.Advance(second, "STARTING");
        jobs.Advance(second, "RUNNABLE", "Received status from SageMaker: CapacityError: Unable to provision requested ML compute capacity.");
        jobs.Fail(second, "Received status from SageMaker: AlgorithmError: boom");
        var failed = jobs.Describe(second);
        Assert.Equal("FAILED", (string)failed["status"]!);
        Assert.Single(failed["attempts"]!.AsArray());
        jobs.Fail((string)(await world.BatchAsync("SubmitServiceJob", Submit("never-scheduled")))["jobId"]!, "Received status from SageMaker: ValidationException");

        Assert.Equal(3, jobs.Calls("SubmitServiceJob"));
        Assert.Equal(5, jobs.Calls("DescribeServiceJob"));
        Assert.Equal(0, jobs.Calls("forwarded"));
    }

    [Fact]
    public async Task ServiceJobs_refuses_each_documented_bad_request_with_a_ClientException()
    {
        var (jobs, world) = Start();
        using var owned = jobs;
        jobs.AddQueue("ec2-queue", Region, type: "EC2");
        JsonObject With(Action<JsonObject> change)
        {
            var request = Submit();
            change(request);
            return request;
        }
        JsonObject Tags(int count, int keyLength = 3, int valueLength = 1) => new(Enumerable.Range(0, count)
            .Select(i => KeyValuePair.Create($"{i}".PadLeft(keyLength, 'k'), (JsonNode?)JsonValue.Create(new string('v', valueLength)))));
        JsonArray Conditions(int count) => new(Enumerable.Range(0, count).Select(_ => (JsonNode?)new JsonObject { ["action"] = "EXIT", ["onStatusReason"] = "*" }).ToArray());

        (string Operation, JsonObject Request, string Message)[] table =
        [
            ("SubmitServiceJob", With(r => r.Remove("jobName")), "jobName is required."),
            ("SubmitServiceJob", With(r => r.Remove("jobQueue")), "jobQueue is required."),
            ("SubmitServiceJob", With(r => r.Remove("serviceJobType")), "serviceJobType is required."),
            ("SubmitServiceJob", With(r => r.Remove("serviceRequestPayload")), "serviceRequestPayload is required."),
            ("SubmitServiceJob", With(r => r["serviceJobType"] = "CONTAINER"), "serviceJobType 'CONTAINER' is not valid: it must be one of SAGEMAKER_TRAINING."),
            ("SubmitServiceJob", With(r => r["jobName"] = new string('a', 129)), "it must be 1 to 128 letters, numbers, hyphens (-) and underscores (_)."),
            ("SubmitServiceJob", With(r => r["jobName"] = "has space"), "jobName 'has space' is not valid"),
            ("SubmitServiceJob", With(r => r["jobName"] = 7), "jobName must be a string."),
            ("SubmitServiceJob", With(r => r["schedulingPriority"] = 10000), "schedulingPriority 10000 is not valid: it must be between 0 and 9999."),
            ("SubmitServiceJob", With(r => r["schedulingPriority"] = -1), "schedulingPriority -1 is not valid"),
            ("SubmitServiceJob", With(r => r["schedulingPriority"] = "5"), "schedulingPriority must be an integer."),
            ("SubmitServiceJob", With(r => r["schedulingPriority"] = 1.5), "schedulingPriority must be an integer."),
            ("SubmitServiceJob", With(r => r["retryStrategy"] = new JsonObject()), "retryStrategy.attempts is required."),
            ("SubmitServiceJob", With(r => r["retryStrategy"] = new JsonObject { ["attempts"] = 0 }), "retryStrategy.attempts 0 is not valid: it must be between 1 and 10."),
            ("SubmitServiceJob", With(r => r["retryStrategy"] = new JsonObject { ["attempts"] = 11 }), "retryStrategy.attempts 11 is not valid"),
            ("SubmitServiceJob", With(r => r["retryStrategy"] = new JsonObject { ["attempts"] = 2, ["evaluateOnExit"] = Conditions(6) }), "retryStrategy.evaluateOnExit has 6 conditions: at most 5 are allowed."),
            ("SubmitServiceJob", With(r => r["retryStrategy"] = new JsonObject { ["attempts"] = 2, ["evaluateOnExit"] = new JsonArray(new JsonObject { ["action"] = "MAYBE" }) }), "retryStrategy.evaluateOnExit[0].action 'MAYBE' is not valid: it must be one of RETRY, EXIT."),
            ("SubmitServiceJob", With(r => r["retryStrategy"] = new JsonObject { ["attempts"] = 2, ["evaluateOnExit"] = new JsonArray(new JsonObject { ["onStatusReason"] = new string('x', 513) }) }), "onStatusReason is longer than 512 characters."),
            ("SubmitServiceJob", With(r => r["tags"] = Tags(51)), "tags has 51 entries: at most 50 are allowed."),
            ("SubmitServiceJob", With(r => r["tags"] = new JsonObject()), "tags has 0 entries: at least 1 are required."),
            ("SubmitServiceJob", With(r => r["tags"] = Tags(1, keyLength: 129)), "has 129 characters: at most 128 are allowed."),
            ("SubmitServiceJob", With(r => r["tags"] = new JsonObject { [""] = "v" }), "tags key '' has 0 characters: at least 1 are required."),
            ("SubmitServiceJob", With(r => r["tags"] = Tags(1, valueLength: 257)), "has 257 characters: at most 256 are allowed."),
            ("SubmitServiceJob", With(r => r["tags"] = new JsonObject { ["k"] = 1 }), "tags.k must be a string."),
            ("SubmitServiceJob", With(r => r["clientToken"] = ""), "clientToken has 0 characters: at least 1 are required."),
            ("SubmitServiceJob", With(r => r["clientToken"] = new string('t', 65)), "clientToken has 65 characters: at most 64 are allowed."),
            ("SubmitServiceJob", With(r => r["serviceRequestPayload"] = JsonNode.Parse(Payload)), "serviceRequestPayload must be a string."),
            ("SubmitServiceJob", With(r => r["jobDefinition"] = "report"), "Unknown member 'jobDefinition': SubmitServiceJobRequest has no such member."),
            ("SubmitServiceJob", With(r => r["timeoutConfig"] = new JsonObject { ["attemptDurationSeconds"] = 60, ["attemptDuration"] = 1 }), "Unknown member 'timeoutConfig.attemptDuration': ServiceJobTimeout has no such member."),
            ("SubmitServiceJob", With(r => r["timeoutConfig"] = null), "timeoutConfig must not be null."),
            ("SubmitServiceJob", With(r => r["jobQueue"] = "no-such-queue"), "Job queue no-such-queue does not exist."),
            ("SubmitServiceJob", With(r => r["jobQueue"] = $"arn:aws:batch:{Region}:{AwsWorld.Account}:job-queue/no-such-queue"), "does not exist."),
            ("SubmitServiceJob", With(r => r["jobQueue"] = "ec2-queue"), "Job queue ec2-queue has the type EC2"),
            ("SubmitServiceJob", With(r => r["shareIdentifier"] = "team-a"), "shareIdentifier must not be specified: job queue sm-queue has no fair-share scheduling policy."),
            ("SubmitServiceJob", With(r => r["quotaShareName"] = "q"), "quotaShareName must not be specified"),
            ("DescribeServiceJob", new JsonObject(), "jobId is required."),
            ("DescribeServiceJob", new JsonObject { ["jobId"] = Guid.NewGuid().ToString() }, "does not exist."),
            ("DescribeServiceJob", new JsonObject { ["jobIds"] = new JsonArray("x") }, "Unknown member 'jobIds'"),
            ("TerminateServiceJob", new JsonObject { ["jobId"] = "x" }, "reason is required."),
            ("TerminateServiceJob", new JsonObject { ["jobId"] = "x", ["reason"] = "r" }, "Service job x does not exist."),
            ("ListServiceJobs", new JsonObject { ["maxResults"] = 0 }, "maxResults 0 is not valid: it must be between 1 and 100."),
            ("ListServiceJobs", new JsonObject { ["maxResults"] = 101 }, "maxResults 101 is not valid"),
            ("ListServiceJobs", new JsonObject { ["jobStatus"] = "STOPPED" }, "jobStatus 'STOPPED' is not valid"),
            ("ListServiceJobs", new JsonObject { ["jobQueue"] = "no-such-queue" }, "Job queue no-such-queue does not exist."),
            ("ListServiceJobs", new JsonObject
            {
                ["filters"] = new JsonArray(
                    new JsonObject { ["name"] = "JOB_NAME", ["values"] = new JsonArray("a") },
                    new JsonObject { ["name"] = "AFTER_CREATED_AT", ["values"] = new JsonArray("0") }),
            }, "Only one filter can be used at a time."),
            ("ListServiceJobs", new JsonObject { ["filters"] = new JsonArray(new JsonObject { ["name"] = "JOB_STATUS", ["values"] = new JsonArray("RUNNING") }) }, "Filter name JOB_STATUS is not supported"),
        ];

        var wrong = new List<string>();
        foreach (var (operation, request, message) in table)
        {
            try
            {
                await world.BatchAsync(operation, request);
                wrong.Add($"{operation} {request.ToJsonString()[..Math.Min(120, request.ToJsonString().Length)]}: accepted");
            }
            catch (AwsServiceException e) when (e.ErrorCode == "ClientException" && e.StatusCode == HttpStatusCode.BadRequest)
            {
                if (e.ServiceMessage?.Contains(message, StringComparison.Ordinal) != true)
                {
                    wrong.Add($"{operation}: wanted \"{message}\", got \"{e.ServiceMessage}\"");
                }
            }
        }
        Assert.Empty(wrong);
        Assert.Empty(jobs.JobIds);

        // The limits themselves are accepted.
        var atTheLimits = Submit(new string('A', 64) + new string('_', 32) + new string('9', 31) + "-");
        atTheLimits["schedulingPriority"] = 9999;
        atTheLimits["retryStrategy"] = new JsonObject { ["attempts"] = 10, ["evaluateOnExit"] = Conditions(5) };
        atTheLimits["tags"] = Tags(50, keyLength: 128, valueLength: 256);
        atTheLimits["clientToken"] = new string('~', 64);
        atTheLimits["jobQueue"] = $"arn:aws:batch:{Region}:{AwsWorld.Account}:job-queue/sm-queue";
        atTheLimits["serviceRequestPayload"] = "not even JSON: Batch passes the payload through without validation";
        await world.BatchAsync("SubmitServiceJob", atTheLimits);
        Assert.Single(jobs.JobIds);
        Assert.Equal(table.Count(t => t.Operation == "SubmitServiceJob") + 1, jobs.Calls("SubmitServiceJob"));
    }

    [Fact]
    public async Task ServiceJobs_rejects_a_second_submit_with_the_same_clientToken()
    {
        var (jobs, world) = Start();
        using var owned = jobs;
        var request = Submit("idempotent");
        request["clientToken"] = "unique-token-12345";
        var first = (string)(await world.BatchAsync("SubmitServiceJob", request))["jobId"]!;

        var same = await Refused(() => world.BatchAsync("SubmitServiceJob", request.DeepClone().AsObject()));
        Assert.Contains("idempotency token (clientToken) 'unique-token-12345'", same);
        Assert.DoesNotContain(first, same); // AWS documents no job id in the rejection: BatchSync must find the job itself
        var changed = request.DeepClone().AsObject();
        changed["schedulingPriority"] = 1;
        var different = await Refused(() => world.BatchAsync("SubmitServiceJob", changed));
        Assert.Contains("'unique-token-12345'", different);
        Assert.Contains("different parameters", different);

        // Another token, or none, is another job; a token is per region.
        request["clientToken"] = "another-token";
        await world.BatchAsync("SubmitServiceJob", request);
        request.Remove("clientToken");
        await world.BatchAsync("SubmitServiceJob", request);
        await world.BatchAsync("SubmitServiceJob", request);
        Assert.Equal(4, jobs.JobIds.Count);

        // The answer is lost after Batch acted (the connection is reset): the retry of the same request is rejected, one job.
        jobs.DropAfterSubmit();
        var lost = Submit("lost-answer");
        lost["clientToken"] = "token-of-a-lost-answer";
        var retried = await Refused(() => world.BatchAsync("SubmitServiceJob", lost));
        Assert.Contains("'token-of-a-lost-answer'", retried);
        var found = await world.BatchAsync("ListServiceJobs", new JsonObject
        {
            ["filters"] = new JsonArray(new JsonObject { ["name"] = "JOB_NAME", ["values"] = new JsonArray("lost-answer") }),
        });
        Assert.Single(found["jobSummaryList"]!.AsArray());
        Assert.Equal(8, jobs.Calls("SubmitServiceJob"));
    }

    [Fact]
    public async Task ServiceJobs_terminate_fails_a_job_that_has_not_ended_and_leaves_an_ended_one()
    {
        var (jobs, world) = Start();
        using var owned = jobs;
        foreach (var status in new[] { "SUBMITTED", "RUNNABLE", "RUNNING" })
        {
            var jobId = (string)(await world.BatchAsync("SubmitServiceJob", Submit($"terminate-{status}")))["jobArn"]!;
            if (status != "SUBMITTED")
            {
                jobs.Advance(jobId, status);
            }
            var answer = await world.BatchAsync("TerminateServiceJob", new JsonObject { ["jobId"] = jobId, ["reason"] = "BatchSync: the execution was stopped" });
            Assert.Equal("{}", answer.ToJsonString());
            var described = jobs.Describe(jobId);
            Assert.Equal("FAILED", (string)described["status"]!);
            Assert.True((bool)described["isTerminated"]!);
            Assert.Equal("BatchSync: the execution was stopped", (string)described["statusReason"]!);
            Assert.NotNull(described["stoppedAt"]);
            if (status == "RUNNING")
            {
                Assert.Equal("BatchSync: the execution was stopped", (string)described["attempts"]![0]!["statusReason"]!);
            }
            else
            {
                Assert.Empty(described["attempts"]!.AsArray());
            }
        }

        var done = (string)(await world.BatchAsync("SubmitServiceJob", Submit("already-done")))["jobId"]!;
        jobs.Succeed(done);
        await world.BatchAsync("TerminateServiceJob", new JsonObject { ["jobId"] = done, ["reason"] = "too late" });
        var after = jobs.Describe(done);
        Assert.Equal("SUCCEEDED", (string)after["status"]!);
        Assert.Null(after["isTerminated"]);
        Assert.Equal(4, jobs.Calls("TerminateServiceJob"));
    }

    [Fact]
    public async Task ServiceJobs_list_filters_by_queue_status_and_name_newest_first_in_pages()
    {
        var (jobs, world) = Start();
        using var owned = jobs;
        jobs.AddQueue("other-queue", Region);
        var clock = 1_700_000_000_000L;
        jobs.Clock = () => clock += 1000;
        var ids = new Dictionary<string, string>();
        foreach (var (name, queue, status) in new[]
        {
            ("Train-A", "sm-queue", "RUNNING"), ("train-b", "sm-queue", "RUNNING"), ("train-c", "sm-queue", "SUCCEEDED"),
            ("eval-a", "sm-queue", "RUNNABLE"), ("train-d", "other-queue", "RUNNING"),
        })
        {
            ids[name] = (string)(await world.BatchAsync("SubmitServiceJob", Submit(name, queue)))["jobId"]!;
            jobs.Advance(ids[name], status);
        }
        async Task<string[]> Names(JsonObject request) =>
            (await world.BatchAsync("ListServiceJobs", request))["jobSummaryList"]!.AsArray().Select(s => (string)s!["jobName"]!).ToArray();
        JsonArray Filter(string name, string value) => new(new JsonObject { ["name"] = name, ["values"] = new JsonArray(value) });

        // "If you don't specify a status, only RUNNING jobs are returned"; newest first.
        Assert.Equal(new[] { "train-d", "train-b", "Train-A" }, await Names(new JsonObject()));
        Assert.Equal(new[] { "train-b", "Train-A" }, await Names(new JsonObject { ["jobQueue"] = "sm-queue" }));
        Assert.Equal(new[] { "train-d" }, await Names(new JsonObject { ["jobQueue"] = $"arn:aws:batch:{Region}:{AwsWorld.Account}:job-queue/other-queue" }));
        Assert.Equal(new[] { "train-c" }, await Names(new JsonObject { ["jobQueue"] = "sm-queue", ["jobStatus"] = "SUCCEEDED" }));
        Assert.Equal(new[] { "eval-a" }, await Names(new JsonObject { ["jobStatus"] = "RUNNABLE" }));
        // JOB_NAME: case-insensitive, a trailing * matches a prefix; with a filter, jobStatus is ignored.
        Assert.Equal(new[] { "Train-A" }, await Names(new JsonObject { ["filters"] = Filter("JOB_NAME", "train-a"), ["jobStatus"] = "SUCCEEDED" }));
        Assert.Equal(new[] { "train-c", "train-b", "Train-A" }, await Names(new JsonObject { ["jobQueue"] = "sm-queue", ["filters"] = Filter("JOB_NAME", "TRAIN*") }));
        var createdB = (long)jobs.Describe(ids["train-b"])["createdAt"]!;
        Assert.Equal(new[] { "train-d", "eval-a", "train-c" }, await Names(new JsonObject { ["filters"] = Filter("AFTER_CREATED_AT", createdB.ToString()) }));
        Assert.Equal(new[] { "Train-A" }, await Names(new JsonObject { ["filters"] = Filter("BEFORE_CREATED_AT", createdB.ToString()) }));

        // Pages of maxResults, with an opaque nextToken.
        var seen = new List<string>();
        string? token = null;
        var pages = 0;
        do
        {
            var request = new JsonObject { ["filters"] = Filter("JOB_NAME", "*"), ["maxResults"] = 2 };
            if (token is not null)
            {
                request["nextToken"] = token;
            }
            var page = await world.BatchAsync("ListServiceJobs", request);
            seen.AddRange(page["jobSummaryList"]!.AsArray().Select(s => (string)s!["jobName"]!));
            token = (string?)page["nextToken"];
            pages++;
        }
        while (token is not null);
        Assert.Equal(3, pages);
        Assert.Equal(new[] { "train-d", "eval-a", "train-c", "train-b", "Train-A" }, seen);

        // A summary has the model's ServiceJobSummary members only.
        var summary = (await world.BatchAsync("ListServiceJobs", new JsonObject { ["jobQueue"] = "other-queue" }))["jobSummaryList"]![0]!.AsObject();
        var model = jobs.Model["ServiceJobSummary"];
        Assert.All(summary.Select(p => p.Key), name => Assert.Contains(name, model.MembersByWire.Keys));
        Assert.All(model.Required, name => Assert.True(summary.ContainsKey(name), name));
        Assert.Equal(ids["train-d"], (string)summary["jobId"]!);

        // Fault: a fresh job is left out of lists and describes for a while.
        jobs.Clock = () => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        jobs.ListingLag = TimeSpan.FromMilliseconds(700);
        var fresh = (string)(await world.BatchAsync("SubmitServiceJob", Submit("fresh")))["jobId"]!;
        jobs.Advance(fresh, "RUNNING");
        Assert.DoesNotContain("fresh", await Names(new JsonObject()));
        await Refused(() => world.BatchAsync("DescribeServiceJob", new JsonObject { ["jobId"] = fresh }));
        await Task.Delay(800);
        Assert.Contains("fresh", await Names(new JsonObject()));
        Assert.Equal("RUNNING", (string)(await world.BatchAsync("DescribeServiceJob", new JsonObject { ["jobId"] = fresh }))["status"]!);
    }

    [Fact]
    public async Task ServiceJobs_event_and_describe_have_the_member_names_of_the_User_Guide_samples_and_the_model()
    {
        var (jobs, world) = Start("us-east-1");
        using var owned = jobs;
        jobs.AddQueue("HappyPathJobQueue", "us-east-1");
        var eventJob = Submit("event-test", "HappyPathJobQueue", Payload.Replace("my-simple-training-job", "my-training-job"));
        eventJob["timeoutConfig"] = new JsonObject { ["attemptDurationSeconds"] = 60 };
        var eventJobId = (string)(await world.BatchAsync("SubmitServiceJob", eventJob))["jobId"]!;
        jobs.Succeed(eventJobId);

        var sample = JsonNode.Parse(File.ReadAllText(FixturePath("event-userguide.json")))!.AsObject();
        var made = jobs.EventFor(eventJobId);
        Assert.Equal(sample.Select(p => p.Key), made.Select(p => p.Key));
        foreach (var name in new[] { "version", "detail-type", "source", "account", "region" })
        {
            Assert.Equal((string)sample[name]!, (string)made[name]!);
        }
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", (string)made["time"]!);
        Assert.Equal((string)made["detail"]!["jobArn"]!, (string)made["resources"]!.AsArray().Single()!);
        Assert.Equal($"arn:aws:batch:us-east-1:{AwsWorld.Account}:service-job/{eventJobId}", (string)made["detail"]!["jobArn"]!);
        var trainingJob = "^arn:aws:sagemaker:us-east-1:123456789012:training-job/AWSBatchmy-training-job[0-9a-f]{32}$";
        Assert.Matches(trainingJob, (string)sample["detail"]!["latestAttempt"]!["serviceResourceId"]!["value"]!);
        Assert.Matches(trainingJob, (string)made["detail"]!["latestAttempt"]!["serviceResourceId"]!["value"]!);
        Assert.Equal((string)sample["detail"]!["statusReason"]!, (string)made["detail"]!["statusReason"]!);
        Assert.Null(made["detail"]!["tags"]);
        Assert.Null(made["detail"]!["serviceRequestPayload"]);

        var describeShape = jobs.Model["DescribeServiceJobResponse"];
        var detailModel = ModelPaths(describeShape, "").Where(p => !p.StartsWith("/tags") && !p.StartsWith("/serviceRequestPayload")).ToHashSet();
        AssertSameNames(Paths(sample["detail"]), Paths(made["detail"]), detailModel, "event detail");

        // DescribeServiceJob as the getting-started tutorial ran it: attempts=1, a 60 s timeout, no tags.
        var tutorial = Submit("my-batch-sm-job", "sm-queue");
        tutorial["retryStrategy"] = new JsonObject { ["attempts"] = 1 };
        tutorial["timeoutConfig"] = new JsonObject { ["attemptDurationSeconds"] = 60 };
        var tutorialId = (string)(await world.BatchAsync("SubmitServiceJob", tutorial))["jobId"]!;
        jobs.Succeed(tutorialId);
        var described = (await world.BatchAsync("DescribeServiceJob", new JsonObject { ["jobId"] = tutorialId })).AsObject();
        var example = JsonNode.Parse(File.ReadAllText(FixturePath("describe-getting-started.json")))!.AsObject();
        AssertSameNames(Paths(example), Paths(described), ModelPaths(describeShape, "").ToHashSet(), "DescribeServiceJob");
        Assert.All(describeShape.Required.Where(r => r != "startedAt"), name => Assert.True(described.ContainsKey(name), name));
        Assert.Equal(example.Where(p => p.Key != "capacityUsage" && p.Key != "scheduledAt").Select(p => p.Key),
            described.Where(p => p.Key != "capacityUsage" && p.Key != "scheduledAt").Select(p => p.Key)); // the model's order, as the example
        // Every member the stand-in writes is in the model (a job through every status, terminated, with every option).
        var full = Submit("everything");
        full["retryStrategy"] = new JsonObject { ["attempts"] = 2, ["evaluateOnExit"] = new JsonArray(new JsonObject { ["action"] = "RETRY", ["onStatusReason"] = "*CapacityError*" }) };
        full["schedulingPriority"] = 1;
        full["preemptionConfiguration"] = new JsonObject { ["preemptionRetriesBeforeTermination"] = 1 };
        full["tags"] = new JsonObject { ["a"] = "b" };
        full["timeoutConfig"] = new JsonObject { ["attemptDurationSeconds"] = 60 };
        var fullId = (string)(await world.BatchAsync("SubmitServiceJob", full))["jobId"]!;
        jobs.Advance(fullId, "RUNNING");
        await world.BatchAsync("TerminateServiceJob", new JsonObject { ["jobId"] = fullId, ["reason"] = "stop" });
        var allPaths = Paths(jobs.Describe(fullId));
        Assert.DoesNotContain(allPaths, p => !ModelPaths(describeShape, "").Contains(p) && !p.StartsWith("/tags/"));
    }

    [Fact]
    public async Task ServiceJobs_passes_every_other_request_through_to_moto()
    {
        var (jobs, world) = Start("ca-central-1");
        using var owned = jobs;
        var (queue, definition, _) = await world.CreateBatchAsync("servicejobs-pass");
        var queues = await world.BatchAsync("DescribeJobQueues", new JsonObject { ["jobQueues"] = new JsonArray(queue) });
        Assert.Equal(queue, (string)queues["jobQueues"]![0]!["jobQueueName"]!);
        var job = await world.BatchAsync("SubmitJob", new JsonObject { ["jobName"] = "plain-job", ["jobQueue"] = queue, ["jobDefinition"] = definition });
        Assert.NotNull(job["jobId"]);
        // moto's queue is no SAGEMAKER_TRAINING queue of the stand-in.
        Assert.Contains("does not exist", await Refused(() => world.BatchAsync("SubmitServiceJob", Submit("x", queue))));

        // The service job's event goes through moto's EventBridge (via the stand-in) to a rule on final statuses.
        var id = (string)(await world.BatchAsync("SubmitServiceJob", Submit()))["jobId"]!;
        jobs.Fail(id, "Received status from SageMaker: AlgorithmError: boom");
        var route = await world.CreateRouteAsync(new JsonObject
        {
            ["source"] = new JsonArray("aws.batch"),
            ["detail-type"] = new JsonArray("Batch Service Job State Change"),
            ["detail"] = new JsonObject { ["status"] = new JsonArray("SUCCEEDED", "FAILED") },
        });
        var delivered = await route.DeliverAsync([jobs.EventFor(id)], expect: 1);
        Assert.Equal(id, (string)delivered.Single()["detail"]!["jobId"]!);
        Assert.True(jobs.Calls("forwarded") >= 6);
        Assert.Equal(2, jobs.Calls("SubmitServiceJob"));
    }

    private static void AssertSameNames(ISet<string> sample, ISet<string> made, ISet<string> model, string what)
    {
        // Every name of the sample is in the stand-in's answer (values aside), and every name of the answer is the
        // sample's or the model's.
        Assert.True(sample.IsSubsetOf(made), $"{what}: missing {string.Join(", ", sample.Except(made))}");
        var unknown = made.Where(p => !sample.Contains(p) && !model.Contains(p)).ToList();
        Assert.True(unknown.Count == 0, $"{what}: not in the sample nor the model: {string.Join(", ", unknown)}");
        Assert.True(sample.Where(p => !p.StartsWith("/tags/")).All(model.Contains), $"{what}: the sample has names the model lacks: {string.Join(", ", sample.Where(p => !model.Contains(p)))}");
    }

    /// <summary>Member paths at every depth ("/attempts[]/serviceResourceId/name"); map keys of tags are data.</summary>
    private static HashSet<string> Paths(JsonNode? node, string prefix = "")
    {
        var paths = new HashSet<string>(StringComparer.Ordinal);
        switch (node)
        {
            case JsonObject o:
                foreach (var (name, value) in o)
                {
                    paths.Add($"{prefix}/{name}");
                    if (name != "tags")
                    {
                        paths.UnionWith(Paths(value, $"{prefix}/{name}"));
                    }
                }
                break;
            case JsonArray a:
                foreach (var item in a)
                {
                    paths.UnionWith(Paths(item, prefix + "[]"));
                }
                break;
        }
        return paths;
    }

    private static IEnumerable<string> ModelPaths(Shape shape, string prefix, int depth = 0)
    {
        if (depth > 6)
        {
            yield break;
        }
        switch (shape.Kind)
        {
            case ShapeKind.Structure:
                foreach (var member in shape.Members)
                {
                    yield return $"{prefix}/{member.WireName}";
                    foreach (var p in ModelPaths(member.Shape, $"{prefix}/{member.WireName}", depth + 1))
                    {
                        yield return p;
                    }
                }
                break;
            case ShapeKind.List:
                foreach (var p in ModelPaths(shape.MemberShape!, prefix + "[]", depth + 1))
                {
                    yield return p;
                }
                break;
        }
    }
}
