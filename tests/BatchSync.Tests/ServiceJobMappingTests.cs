using System.Text.Json;
using System.Text.Json.Nodes;
using BatchSync.Domain;
using BatchSync.Mapping;

namespace BatchSync.Tests;

/// <summary>
/// Issue 21: a SubmitJob payload with ServiceJobType is a SubmitServiceJob request. The oracles are the official model
/// (Fixtures/aws-models/batch-2016-08-10.service-2.json, read here as plain JSON, not through BatchShapes), the User
/// Guide's facts in DEVELOPERS.md ("Service jobs: what is known") and hand-written requests.
/// </summary>
public class ServiceJobMappingTests
{
    public const string Role = "arn:aws:iam::123456789012:role/SageMakerExecution";
    public const string TrainingPayload = """{"TrainingJobName":"my-training-job","RoleArn":"arn:aws:iam::123456789012:role/SageMakerExecution","OutputDataConfig":{"S3OutputPath":"s3://bucket/out"}}""";

    /// <summary>A string as a JSON string literal (the payload is a JSON string inside the SubmitJob payload).</summary>
    public static string Lit(string text) => JsonSerializer.Serialize(text);

    /// <summary>A minimal service job payload; <paramref name="extra"/> is more root members, each with its leading comma.</summary>
    public static string Service(string extra = "", string? payload = null, string? token = "tok-1") =>
        $$"""{"JobName":"train","JobQueue":"sm-queue","ServiceJobType":"SAGEMAKER_TRAINING","ServiceRequestPayload":{{Lit(payload ?? TrainingPayload)}}{{(token is null ? "" : $",\"TaskToken\":{Lit(token)}")}}{{extra}}}""";

    private static SubmitMapping Map(string json, string? marker = "ns:key", JobAdditions? additions = null)
    {
        var draft = SubmitRequestMapper.Read(Fixtures.Utf8(json));
        return additions is not null ? draft.With(additions) : draft.WithMarker(draft.TaskToken is null ? null : marker);
    }

    private static JsonObject Body(string json, string? marker = "ns:key", JobAdditions? additions = null)
    {
        var mapping = Map(json, marker, additions);
        Assert.True(mapping.IsValid, string.Join("; ", mapping.Problems));
        Assert.Equal(JobKind.Service, mapping.Request!.Kind);
        return JsonNode.Parse(mapping.Request.Body)!.AsObject();
    }

    private static string Problems(string json, JobAdditions? additions = null)
    {
        var mapping = Map(json, additions: additions);
        Assert.False(mapping.IsValid);
        Assert.Null(mapping.Request);
        return InputProblem.Describe(mapping.Problems);
    }

    // ---- the model, read by hand ----

    private static readonly JsonObject Model = Fixtures.Node("aws-models/batch-2016-08-10.service-2.json")["shapes"]!.AsObject();

    private static string Pascal(string wire) => char.ToUpperInvariant(wire[0]) + wire[1..];

    /// <summary>Walks a wire value against a shape of the official model: members, required, types, enums, lengths, counts.</summary>
    internal static void Validate(JsonNode? value, string shapeName, string path, List<string> problems)
    {
        var shape = Model[shapeName]!.AsObject();
        var type = (string)shape["type"]!;
        switch (type)
        {
            case "structure":
                if (value is not JsonObject o)
                {
                    problems.Add($"{path}: not an object");
                    return;
                }
                var members = shape["members"]!.AsObject();
                foreach (var (name, member) in o)
                {
                    if (!members.ContainsKey(name))
                    {
                        problems.Add($"{path}.{name}: not a member of {shapeName}");
                        continue;
                    }
                    Validate(member, (string)members[name]!["shape"]!, $"{path}.{name}", problems);
                }
                foreach (var required in shape["required"]?.AsArray() ?? [])
                {
                    if (!o.ContainsKey((string)required!))
                    {
                        problems.Add($"{path}.{required}: required by {shapeName}");
                    }
                }
                return;
            case "map":
                if (value is not JsonObject map)
                {
                    problems.Add($"{path}: not an object");
                    return;
                }
                CheckCount(map.Count, shape, path, problems);
                foreach (var (key, item) in map)
                {
                    Validate(JsonValue.Create(key), (string)shape["key"]!["shape"]!, $"{path}[key {key}]", problems);
                    Validate(item, (string)shape["value"]!["shape"]!, $"{path}.{key}", problems);
                }
                return;
            case "list":
                if (value is not JsonArray list)
                {
                    problems.Add($"{path}: not an array");
                    return;
                }
                CheckCount(list.Count, shape, path, problems);
                for (var i = 0; i < list.Count; i++)
                {
                    Validate(list[i], (string)shape["member"]!["shape"]!, $"{path}[{i}]", problems);
                }
                return;
            case "string":
                if (value is not JsonValue s || s.GetValueKind() != JsonValueKind.String)
                {
                    problems.Add($"{path}: not a string");
                    return;
                }
                var text = (string)s!;
                CheckCount(text.Length, shape, path, problems);
                if (shape["enum"] is JsonArray values && !values.Any(v => (string)v! == text))
                {
                    problems.Add($"{path}: '{text}' not in the enum");
                }
                return;
            case "integer":
            case "long":
                if (value is not JsonValue n || n.GetValueKind() != JsonValueKind.Number || !long.TryParse(n.ToJsonString(), out _))
                {
                    problems.Add($"{path}: not a whole number");
                }
                return;
            case "boolean":
                if (value?.GetValueKind() is not (JsonValueKind.True or JsonValueKind.False))
                {
                    problems.Add($"{path}: not a boolean");
                }
                return;
            default:
                problems.Add($"{path}: type {type} not checked here");
                return;
        }
    }

    private static void CheckCount(int count, JsonObject shape, string path, List<string> problems)
    {
        if (shape["min"] is { } min && count < (int)min)
        {
            problems.Add($"{path}: {count} < min {min}");
        }
        if (shape["max"] is { } max && count > (int)max)
        {
            problems.Add($"{path}: {count} > max {max}");
        }
    }

    private const string EveryMember = """
        ,"RetryStrategy":{"Attempts":3,"EvaluateOnExit":[{"Action":"RETRY","OnStatusReason":"Received status from SageMaker: Capacity*"},{"Action":"EXIT","OnStatusReason":"*"}]}
        ,"SchedulingPriority":7,"ShareIdentifier":"blue","QuotaShareName":"team-a"
        ,"PreemptionConfiguration":{"PreemptionRetriesBeforeTermination":2}
        ,"TimeoutConfig":{"AttemptDurationSeconds":3600}
        ,"Tags":{"team":"ml","CostCenter":"42"}
        """;

    // ---- mapping ----

    [Fact]
    public void Every_SubmitServiceJob_member_of_the_model_but_clientToken_is_taken_in_PascalCase_and_sent_camelCase()
    {
        var body = Body(Service(EveryMember));

        // Every member the model gives SubmitServiceJobRequest is in the body, under its wire name, and nothing else.
        var modelMembers = Model["SubmitServiceJobRequest"]!["members"]!.AsObject().Select(m => m.Key).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(12, modelMembers.Count);
        Assert.Equal(modelMembers, body.Select(m => m.Key).Order(StringComparer.Ordinal).ToList());
        // The payload named every one but clientToken in PascalCase (checked here, not trusted to the mapper's table).
        var given = JsonNode.Parse(Service(EveryMember))!.AsObject().Select(m => m.Key).Where(k => k != "TaskToken").ToHashSet();
        Assert.Equal(modelMembers.Where(m => m != "clientToken").Select(Pascal).ToHashSet(), given);

        // Nested members too, values as given.
        Assert.Equal("""{"attempts":3,"evaluateOnExit":[{"action":"RETRY","onStatusReason":"Received status from SageMaker: Capacity*"},{"action":"EXIT","onStatusReason":"*"}]}""",
            body["retryStrategy"]!.ToJsonString());
        Assert.Equal("""{"preemptionRetriesBeforeTermination":2}""", body["preemptionConfiguration"]!.ToJsonString());
        Assert.Equal("""{"attemptDurationSeconds":3600}""", body["timeoutConfig"]!.ToJsonString());
        Assert.Equal((7, "blue", "team-a", "SAGEMAKER_TRAINING"), ((int)body["schedulingPriority"]!, (string)body["shareIdentifier"]!, (string)body["quotaShareName"]!, (string)body["serviceJobType"]!));
        Assert.Equal("""{"team":"ml","CostCenter":"42","BatchSyncTask":"ns:key"}""", body["tags"]!.ToJsonString());
        Assert.DoesNotContain("TaskToken", body.ToJsonString());
        Assert.DoesNotContain("tok-1", body.ToJsonString());
    }

    [Fact]
    public void The_body_validates_against_the_official_model()
    {
        foreach (var json in new[] { Service(), Service(EveryMember), Service(token: null), Service(",\"Tags\":{\"a\":\"\"}", token: null) })
        {
            var problems = new List<string>();
            Validate(Body(json), "SubmitServiceJobRequest", "$", problems);
            Assert.True(problems.Count == 0, $"{json}: {string.Join("; ", problems)}");
        }
    }

    [Fact]
    public void A_minimal_request_is_written_as_expected_with_the_marker_tag_and_the_clientToken_last()
    {
        var mapping = Map(Service());
        Assert.True(mapping.IsValid, string.Join("; ", mapping.Problems));
        var request = mapping.Request!;
        Assert.Equal((JobKind.Service, "train", "sm-queue", "tok-1", Role), (request.Kind, request.JobName, request.JobQueue, request.TaskToken, request.ServiceRole));
        var body = JsonNode.Parse(request.Body)!.AsObject();
        var clientToken = (string)body["clientToken"]!;
        Assert.Equal(clientToken, TaskKey.ClientToken("tok-1"));
        var expected = new JsonObject
        {
            ["jobName"] = "train", ["jobQueue"] = "sm-queue", ["serviceJobType"] = "SAGEMAKER_TRAINING", ["serviceRequestPayload"] = TrainingPayload,
            ["tags"] = new JsonObject { ["BatchSyncTask"] = "ns:key" }, ["clientToken"] = clientToken,
        };
        Fixtures.AssertSameJson(expected, body);
    }

    [Fact]
    public void Without_a_token_nothing_is_added()
    {
        var body = Body(Service(token: null));
        Assert.False(body.ContainsKey("tags"));
        Assert.False(body.ContainsKey("clientToken"));
        Assert.Equal("""{"team":"ml"}""", Body(Service(",\"Tags\":{\"team\":\"ml\"}", token: null))["tags"]!.ToJsonString());
    }

    [Theory]
    [InlineData("", """{"BatchSyncTask":"ns:key"}""")]
    [InlineData(""","Tags":{"a":"1"}""", """{"a":"1","BatchSyncTask":"ns:key"}""")]
    [InlineData(""","Tags":{"a":"1","b":""}""", """{"a":"1","b":"","BatchSyncTask":"ns:key"}""")]
    public void The_marker_tag_joins_the_given_tags_or_makes_the_only_one(string tags, string expected)
    {
        var body = Body(Service(tags));
        Assert.Equal(expected, body["tags"]!.ToJsonString());
        Assert.Single(body, m => m.Key == "tags");
    }

    [Fact]
    public void The_marker_tag_goes_in_wherever_Tags_and_TaskToken_are()
    {
        // Tags before the token, and the token first of all.
        var json = $$"""{"TaskToken":"tok-1","Tags":{"a":"1"},"JobName":"train","JobQueue":"sm-queue","ServiceJobType":"SAGEMAKER_TRAINING","ServiceRequestPayload":{{Lit(TrainingPayload)}}}""";
        var body = Body(json);
        Assert.Equal("""{"a":"1","BatchSyncTask":"ns:key"}""", body["tags"]!.ToJsonString());
        Assert.Equal(TaskKey.ClientToken("tok-1"), (string)body["clientToken"]!);
    }

    [Fact]
    public void A_tenants_tag_is_added_after_the_marker_and_a_Callback_key_is_not()
    {
        var body = Body(Service(",\"Tags\":{\"a\":\"1\"}"), additions: new JobAdditions("ns:key", CallbackKey: "secret-callback-key", Tenant: "210987654321"));
        Assert.Equal("""{"a":"1","BatchSyncTask":"ns:key","BatchSyncTenant":"210987654321"}""", body["tags"]!.ToJsonString());
        Assert.DoesNotContain("secret-callback-key", body.ToJsonString());
        Assert.True(body.ContainsKey("clientToken"));
    }

    private static string Tags(int count) =>
        ",\"Tags\":{" + string.Join(",", Enumerable.Range(0, count).Select(i => $"\"k{i}\":\"v{i}\"")) + "}";

    [Fact]
    public void Tags_with_BatchSyncs_own_fit_Batchs_50_or_are_refused_by_name()
    {
        // The model's TagrisTagsMap: max 50.
        Assert.Equal(50, (int)Model["TagrisTagsMap"]!["max"]!);
        Assert.Equal(50, Body(Service(Tags(49)))["tags"]!.AsObject().Count);
        var over = Problems(Service(Tags(50)));
        Assert.Contains("Tags:", over);
        Assert.Contains("50", over);
        // With a tenant's tag too: 48 fit, 49 do not.
        var tenant = new JobAdditions("ns:key", Tenant: "210987654321");
        Assert.Equal(50, Body(Service(Tags(48)), additions: tenant)["tags"]!.AsObject().Count);
        Assert.Contains("Tags:", Problems(Service(Tags(49)), tenant));
        // More than Batch takes is refused whatever BatchSync adds; without a token 50 are fine.
        Assert.Contains("Tags", Problems(Service(Tags(51))));
        Assert.Equal(50, Body(Service(Tags(50), token: null))["tags"]!.AsObject().Count);
    }

    [Theory]
    [InlineData(""","Tags":{"BatchSyncTask":"x"}""", "Tags.BatchSyncTask: is reserved for BatchSync's own use")]
    [InlineData(""","Tags":{"BatchSyncTenant":"x"}""", "Tags.BatchSyncTenant: is reserved for BatchSync's own use")]
    [InlineData(",\"ClientToken\":\"mine\"", "ClientToken: is set by BatchSync")]
    [InlineData(",\"ServiceJobType\":\"SAGEMAKER_TRAINING\"", "ServiceJobType: is given more than once")]
    [InlineData(",\"SchedulingPriority\":\"high\"", "SchedulingPriority: must be a whole number (32-bit), not a string")]
    [InlineData(""","RetryStrategy":{"EvaluateOnExit":[]}""", "RetryStrategy.Attempts: is required")]
    [InlineData(""","RetryStrategy":{"Attempts":1,"EvaluateOnExit":[{"Action":"RESTART"}]}""", "RetryStrategy.EvaluateOnExit[0].Action: 'RESTART' is not one of")]
    [InlineData(""","TimeoutConfig":{"AttemptDurationSeconds":1.5}""", "TimeoutConfig.AttemptDurationSeconds: must be a whole number (32-bit), not a number")]
    [InlineData(""","Tags":{"a":1}""", "Tags.a: must be a string, not a number")]
    // The model's TagrisTagsMap has min 1: an empty Tags is refused, even though BatchSync would add the marker.
    [InlineData(""","Tags":{}""", "Tags: must have at least 1 entries")]
    [InlineData(""","ContainerOverrides":{}""", "ContainerOverrides: unknown member")]
    [InlineData(""","Parameters":{"a":"b"}""", "Parameters: unknown member")]
    public void Bad_members_are_named(string extra, string expected) =>
        Assert.Contains(expected, Problems(Service(extra)));

    [Theory]
    [InlineData("JobName")]
    [InlineData("JobQueue")]
    [InlineData("ServiceRequestPayload")]
    public void Each_required_member_missing_is_named(string member)
    {
        var payload = JsonNode.Parse(Service())!.AsObject();
        payload.Remove(member);
        Assert.Contains($"{member}: is required", Problems(payload.ToJsonString()));
        // All required members of the model's shape are the ones tested here, with ServiceJobType (which makes it a service job).
        Assert.Equal(["jobName", "jobQueue", "serviceJobType", "serviceRequestPayload"],
            Model["SubmitServiceJobRequest"]!["required"]!.AsArray().Select(r => (string)r!).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Every_missing_required_member_is_named_at_once()
    {
        var problems = Problems("""{"ServiceJobType":"SAGEMAKER_TRAINING","TaskToken":"t"}""");
        Assert.Contains("JobName: is required", problems);
        Assert.Contains("JobQueue: is required", problems);
        Assert.Contains("ServiceRequestPayload: is required", problems);
        Assert.Equal("t", Map("""{"ServiceJobType":"SAGEMAKER_TRAINING","TaskToken":"t"}""").TaskToken);
    }

    [Theory]
    [InlineData("SAGEMAKER")]
    [InlineData("sagemaker_training")]
    [InlineData("")]
    public void ServiceJobType_must_be_one_of_the_models_enum(string type)
    {
        Assert.Equal(["SAGEMAKER_TRAINING"], Model["ServiceJobType"]!["enum"]!.AsArray().Select(v => (string)v!));
        var json = Service().Replace("\"SAGEMAKER_TRAINING\"", Lit(type), StringComparison.Ordinal);
        Assert.Contains($"ServiceJobType: '{type}' is not one of SAGEMAKER_TRAINING", Problems(json));
    }

    [Fact]
    public void ServiceJobType_that_is_not_a_string_is_named()
    {
        Assert.Contains("ServiceJobType: must be a string, not a number", Problems(Service().Replace("\"SAGEMAKER_TRAINING\"", "1", StringComparison.Ordinal)));
    }

    [Fact]
    public void Both_JobDefinition_and_ServiceJobType_is_the_named_not_both_problem()
    {
        var mapping = Map(Service(",\"JobDefinition\":\"d\""));
        Assert.False(mapping.IsValid);
        var problem = Assert.Single(mapping.Problems);
        Assert.Contains("not both", problem.Message);
        Assert.Contains("JobDefinition", problem.Message);
        Assert.Contains("ServiceJobType", problem.Message);
        // The same whichever comes first.
        var first = $$"""{"JobDefinition":"d","ServiceJobType":"SAGEMAKER_TRAINING","JobName":"j","JobQueue":"q","ServiceRequestPayload":{{Lit(TrainingPayload)}}}""";
        Assert.Contains("not both", Problems(first));
    }

    [Fact]
    public void The_not_both_problem_keeps_the_task_token_so_it_can_be_reported()
    {
        // As Token_is_kept_even_when_the_rest_is_invalid_so_the_failure_can_be_reported (SubmitRequestMapperTests) for
        // every other problem: SubmitRequestMapper.Read returns the "not both" mapping with TaskToken null.
        var mapping = Map(Service(",\"JobDefinition\":\"d\""));
        Assert.False(mapping.IsValid);
        Assert.Equal("tok-1", mapping.TaskToken);
    }

    [Fact]
    public void Without_ServiceJobType_a_payload_is_a_container_jobs()
    {
        var container = Map("""{"JobName":"j","JobQueue":"q","JobDefinition":"d"}""");
        Assert.Equal(JobKind.Container, container.Request!.Kind);
        // A service job's member without ServiceJobType is not a container job's member.
        var problems = Problems($$"""{"JobName":"j","JobQueue":"q","ServiceRequestPayload":{{Lit(TrainingPayload)}}}""");
        Assert.Contains("ServiceRequestPayload: unknown member", problems);
        Assert.Contains("JobDefinition: is required", problems);
    }

    // ---- ServiceRequestPayload ----

    [Theory]
    [InlineData("{\"TrainingJobName\":", "ServiceRequestPayload: must be a CreateTrainingJob request as a JSON string")]
    [InlineData("not json at all", "ServiceRequestPayload: must be a CreateTrainingJob request as a JSON string")]
    [InlineData("", "ServiceRequestPayload: must be a CreateTrainingJob request as a JSON string")]
    [InlineData("[1,2]", "ServiceRequestPayload: must be a CreateTrainingJob request (a JSON object) as a string, not an array")]
    [InlineData("\"x\"", "ServiceRequestPayload: must be a CreateTrainingJob request (a JSON object) as a string, not a string")]
    [InlineData("42", "ServiceRequestPayload: must be a CreateTrainingJob request (a JSON object) as a string, not a number")]
    [InlineData("""{"TrainingJobName":"t"}""", "ServiceRequestPayload.RoleArn: is required")]
    [InlineData("""{"TrainingJobName":"t","RoleArn":7}""", "ServiceRequestPayload.RoleArn: is required")]
    [InlineData("""{"RoleArn":"arn:aws:iam::123456789012:role/r"}""", "ServiceRequestPayload.TrainingJobName: is required")]
    [InlineData("""{"TrainingJobName":"","RoleArn":"arn:aws:iam::123456789012:role/r"}""", "ServiceRequestPayload.TrainingJobName: is required")]
    [InlineData("""{"TrainingJobName":"t","RoleArn":"arn:aws:iam::123456789012:user/bob"}""", "ServiceRequestPayload.RoleArn: must be an IAM role ARN")]
    [InlineData("""{"TrainingJobName":"t","RoleArn":"arn:aws:s3:::bucket/role/x"}""", "ServiceRequestPayload.RoleArn: must be an IAM role ARN")]
    [InlineData("""{"TrainingJobName":"t","RoleArn":"arn:aws:iam::12345:role/r"}""", "ServiceRequestPayload.RoleArn: must be an IAM role ARN")]
    [InlineData("""{"TrainingJobName":"t","RoleArn":"arn:aws:iam:us-east-1:123456789012:role/r"}""", "ServiceRequestPayload.RoleArn: must be an IAM role ARN")]
    [InlineData("""{"TrainingJobName":"t","RoleArn":"arn:aws:iam::123456789012:role/"}""", "ServiceRequestPayload.RoleArn: must be an IAM role ARN")]
    [InlineData("""{"TrainingJobName":"t","RoleArn":"SageMakerExecution"}""", "ServiceRequestPayload.RoleArn: must be an IAM role ARN")]
    public void What_is_checked_of_the_payload_is_named(string payload, string expected) =>
        Assert.Contains(expected, Problems(Service(payload: payload)));

    [Fact]
    public void A_payload_that_is_not_a_string_is_named()
    {
        var json = $$"""{"JobName":"train","JobQueue":"q","ServiceJobType":"SAGEMAKER_TRAINING","ServiceRequestPayload":{{TrainingPayload}},"TaskToken":"t"}""";
        Assert.Contains("ServiceRequestPayload: must be a string, not an object", Problems(json));
    }

    [Theory]
    [InlineData("arn:aws:iam::123456789012:role/service-role/AmazonSageMaker-ExecutionRole-20250101T000000")]
    [InlineData("arn:aws-cn:iam::123456789012:role/r")]
    [InlineData("arn:aws-us-gov:iam::123456789012:role/a/b/c")]
    public void Role_ARNs_with_paths_and_other_partitions_are_taken(string role)
    {
        var mapping = Map(Service(payload: $$"""{"TrainingJobName":"t","RoleArn":{{Lit(role)}}}"""));
        Assert.True(mapping.IsValid, string.Join("; ", mapping.Problems));
        Assert.Equal(role, mapping.Request!.ServiceRole);
    }

    [Fact]
    public void The_payload_reaches_Batch_exactly_as_written()
    {
        // Spacing, member order, number spellings, escapes, non-ASCII and members BatchSync does not know: all kept.
        var payload = "{ \"RoleArn\" : \"arn:aws:iam::123456789012:role/r\",\n\t\"TrainingJobName\":\"t\", \"HyperParameters\": {\"lr\": \"0.10\", \"n\": 1.50e3},"
            + " \"Escaped\": \"a\\/b\\u0041\\\"q\\\"\", \"Text\": \"été 😀 \u2028\", \"Empty\": {}, \"List\": [ ] , \"Null\": null }  ";
        var body = Body(Service(payload: payload));
        Assert.Equal(payload, (string)body["serviceRequestPayload"]!);
        // Unknown CreateTrainingJob members are SageMaker's business, not BatchSync's.
        Assert.Equal("""{"TrainingJobName":"t","RoleArn":"arn:aws:iam::123456789012:role/r","Future":{"x":[1]}}""",
            (string)Body(Service(payload: """{"TrainingJobName":"t","RoleArn":"arn:aws:iam::123456789012:role/r","Future":{"x":[1]}}"""))["serviceRequestPayload"]!);
    }

    [Fact]
    public void A_payload_written_with_escapes_in_the_SubmitJob_payload_is_still_the_same_text()
    {
        // The outer payload may spell the string with \u escapes: the value Batch gets is the decoded text.
        var json = """{"JobName":"train","JobQueue":"q","ServiceJobType":"SAGEMAKER_TRAINING","ServiceRequestPayload":"{\u0022TrainingJobName\u0022:\u0022t\u0022,\u0022RoleArn\u0022:\u0022arn:aws:iam::123456789012:role/r\u0022}","TaskToken":"t"}""";
        Assert.Equal("""{"TrainingJobName":"t","RoleArn":"arn:aws:iam::123456789012:role/r"}""", (string)Body(json)["serviceRequestPayload"]!);
    }

    [Fact]
    public void BatchSyncs_own_members_are_read_as_for_a_container_job_and_not_sent()
    {
        var json = Service(""","ExecutionArn":"arn:aws:states:us-east-1:123456789012:execution:sm:run","StateName":"Train","BatchSync":{"TypedErrors":true,"Links":true}""");
        var mapping = Map(json);
        Assert.True(mapping.IsValid, string.Join("; ", mapping.Problems));
        Assert.Equal(("arn:aws:states:us-east-1:123456789012:execution:sm:run", "Train", """{"Links":true,"TypedErrors":true}"""),
            (mapping.Request!.ExecutionArn, mapping.Request.StateName, mapping.Request.Options));
        var text = System.Text.Encoding.UTF8.GetString(mapping.Request.Body);
        Assert.DoesNotContain("TypedErrors", text);
        Assert.DoesNotContain("execution:sm:run", text);
    }

    // ---- clientToken ----

    public static TheoryData<string> Tokens() => new()
    {
        "t",
        "tok-1",
        "AQCEAAAAKgAAAAMAAAAAAAAAAfake-task-token-0001" + new string('x', 900),
        new string('z', 2048),
        "é😀",
    };

    [Theory]
    [MemberData(nameof(Tokens))]
    public void The_clientToken_fits_the_model_and_is_none_of_the_tokens_own_derivatives(string token)
    {
        var shape = Model["ClientRequestToken"]!;
        Assert.Equal((1, 64), ((int)shape["min"]!, (int)shape["max"]!));
        var body = Body(Service(token: token));
        var clientToken = (string)body["clientToken"]!;
        Assert.InRange(clientToken.Length, 1, 64);
        if (token.Length > 2)
        {
            Assert.DoesNotContain(token, clientToken);
        }
        Assert.NotEqual(token, clientToken);
        Assert.NotEqual(TaskKey.For(token), clientToken);
        Assert.NotEqual(TaskKey.CallbackKey(token), clientToken);
        Assert.DoesNotContain(clientToken, body["tags"]!.ToJsonString());
        // The same token gives the same clientToken, in another invocation, whatever else the payload says.
        Assert.Equal(clientToken, (string)Body(Service(",\"Tags\":{\"a\":\"b\"}", token: token))["clientToken"]!);
    }

    [Fact]
    public void Different_tokens_give_different_clientTokens()
    {
        var seen = new HashSet<string>();
        foreach (var token in Enumerable.Range(0, 200).Select(i => $"AQCEAAAAKgAAAAMAAAAAAAAAA-task-{i}").Append("a").Append("b").Append("A"))
        {
            Assert.True(seen.Add((string)Body(Service(token: token))["clientToken"]!), token);
        }
    }

    // ---- permissions ----

    private static SubmitRequest Request(string json) => Map(json).Request!;

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData(" , ")]
    public void An_empty_AllowedServiceRoles_refuses_every_service_job_with_NotAllowed(string? roles)
    {
        var request = Request(Service());
        var refusal = SubmitPermissions.FromLists(null, null, roles).Check(request.Body, request.Kind, request.ServiceRole);
        Assert.NotNull(refusal);
        Assert.Equal("BatchSync.NotAllowed", refusal.ErrorName);
        Assert.Contains("AllowedServiceRoles", refusal.Message);
        Assert.Equal("BatchSync.NotAllowed", new SubmitPermissions([], [], []).Check(request.Body, request.Kind, request.ServiceRole)?.ErrorName);
    }

    [Theory]
    [InlineData("arn:aws:iam::123456789012:role/SageMakerExecution", true)]
    [InlineData("arn:aws:iam::123456789012:role/SageMaker*", true)]
    [InlineData("arn:aws:iam::*:role/SageMakerExecution", true)]
    [InlineData("*", true)]
    [InlineData("arn:aws:iam::123456789012:role/SageMakerExecutio?", true)]
    [InlineData("arn:aws:iam::123456789012:role/Other,arn:aws:iam::123456789012:role/SageMakerExec*", true)]
    [InlineData("arn:aws:iam::123456789012:role/SageMakerExecution2", false)]
    [InlineData("arn:aws:iam::999999999999:role/*", false)]
    [InlineData("arn:aws:iam::123456789012:role/Other", false)]
    [InlineData("SageMakerExecution", false)]
    public void Only_the_listed_service_roles_are_allowed(string roles, bool allowed)
    {
        var request = Request(Service());
        var refusal = SubmitPermissions.FromLists(null, null, roles).Check(request.Body, request.Kind, request.ServiceRole);
        Assert.Equal(allowed, refusal is null);
        if (refusal is not null)
        {
            Assert.Equal("BatchSync.NotAllowed", refusal.ErrorName);
            Assert.Contains(Role, refusal.Message);
        }
    }

    [Fact]
    public void Container_jobs_do_not_need_a_service_role()
    {
        var container = Request("""{"JobName":"j","JobQueue":"q","JobDefinition":"d","TaskToken":"t"}""");
        foreach (var roles in new string?[] { null, "", "arn:aws:iam::123456789012:role/x" })
        {
            var permissions = SubmitPermissions.FromLists(null, null, roles);
            Assert.Null(permissions.Check(container.Body, container.Kind, container.ServiceRole));
            Assert.Null(permissions.Check(container.Body));
        }
    }

    [Fact]
    public void The_job_definition_list_does_not_refuse_a_service_job_but_the_queue_list_applies()
    {
        var request = Request(Service());
        var definitions = SubmitPermissions.FromLists(null, "arn:aws:batch:us-east-1:123456789012:job-definition/etl:*", "*");
        Assert.Null(definitions.Check(request.Body, request.Kind, request.ServiceRole));

        var queues = SubmitPermissions.FromLists("arn:aws:batch:us-east-1:123456789012:job-queue/gpu-*", null, "*");
        var refusal = queues.Check(request.Body, request.Kind, request.ServiceRole);
        Assert.Contains("job queue \"sm-queue\"", refusal?.Message);
        Assert.Null(SubmitPermissions.FromLists("arn:aws:batch:us-east-1:123456789012:job-queue/sm-*", null, "*").Check(request.Body, request.Kind, request.ServiceRole));
    }
}
