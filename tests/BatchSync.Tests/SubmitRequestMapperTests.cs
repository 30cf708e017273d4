using System.Text.Json.Nodes;
using BatchSync.Domain;
using BatchSync.Mapping;

namespace BatchSync.Tests;

public class SubmitRequestMapperTests
{
    private const string Minimal = """{"JobName":"j","JobQueue":"q","JobDefinition":"d"}""";

    // The marker as JobSubmitter puts it in: only when the payload gave a token.
    private static SubmitMapping Map(string json, string? marker = null)
    {
        var draft = SubmitRequestMapper.Read(Fixtures.Utf8(json));
        return draft.WithMarker(draft.TaskToken is null ? null : marker);
    }

    private static JsonObject Request(string json, string? marker = null)
    {
        var mapping = Map(json, marker);
        Assert.True(mapping.IsValid, string.Join("; ", mapping.Problems));
        return JsonNode.Parse(mapping.Request!.Body)!.AsObject();
    }

    private static string Problems(string json)
    {
        var mapping = Map(json);
        Assert.False(mapping.IsValid);
        Assert.Null(mapping.Request);
        return InputProblem.Describe(mapping.Problems);
    }

    [Fact]
    public void Map_keys_reach_Batch_as_written()
    {
        var request = Request("""{"JobName":"j","JobQueue":"q","JobDefinition":"d","Parameters":{"InputFile":"a","lower_case":"b"},"Tags":{"CostCenter":"x"}}""");
        Assert.Equal("""{"jobName":"j","jobQueue":"q","jobDefinition":"d","parameters":{"InputFile":"a","lower_case":"b"},"tags":{"CostCenter":"x"}}""", JsonText.ToText(request));
    }

    [Fact]
    public void Every_member_maps_to_its_wire_name_at_every_depth()
    {
        var payload = """
        {
          "JobName": "all", "JobQueue": "q", "JobDefinition": "d:1", "ShareIdentifier": "blue", "SchedulingPriorityOverride": 5,
          "ArrayProperties": {"Size": 3},
          "DependsOn": [{"JobId": "abc", "Type": "N_TO_N"}],
          "Parameters": {"In": "x"},
          "ContainerOverrides": {
            "Command": ["echo", "Ref::In"], "InstanceType": "m5.large",
            "Environment": [{"Name": "myVar", "Value": "1"}],
            "ResourceRequirements": [{"Type": "GPU", "Value": "1"}]
          },
          "NodeOverrides": {"NumNodes": 2, "NodePropertyOverrides": [{"TargetNodes": "0:", "ContainerOverrides": {"Vcpus": 2}}]},
          "RetryStrategy": {"Attempts": 3, "EvaluateOnExit": [{"OnExitCode": "1*", "Action": "RETRY"}]},
          "PropagateTags": true,
          "Timeout": {"AttemptDurationSeconds": 600},
          "Tags": {"team": "a"},
          "EksPropertiesOverride": {"PodProperties": {"Metadata": {"Labels": {"app.kubernetes.io/name": "x"}}, "Containers": [{"Name": "c", "Env": [{"Name": "K", "Value": "v"}]}]}},
          "EcsPropertiesOverride": {"TaskProperties": [{"Containers": [{"Name": "c", "Environment": [{"Name": "E", "Value": "v"}]}]}]},
          "ConsumableResourcePropertiesOverride": {"ConsumableResourceList": [{"ConsumableResource": "licence", "Quantity": 1}]},
          "TaskToken": "token"
        }
        """;
        var r = Request(payload);
        Assert.Equal(3, (int)r["arrayProperties"]!["size"]!);
        Assert.Equal("N_TO_N", (string)r["dependsOn"]![0]!["type"]!);
        Assert.Equal("myVar", (string)r["containerOverrides"]!["environment"]![0]!["name"]!);
        Assert.Equal("GPU", (string)r["containerOverrides"]!["resourceRequirements"]![0]!["type"]!);
        Assert.Equal(2, (int)r["nodeOverrides"]!["nodePropertyOverrides"]![0]!["containerOverrides"]!["vcpus"]!);
        Assert.Equal("RETRY", (string)r["retryStrategy"]!["evaluateOnExit"]![0]!["action"]!);
        Assert.Equal("x", (string)r["eksPropertiesOverride"]!["podProperties"]!["metadata"]!["labels"]!["app.kubernetes.io/name"]!);
        Assert.Equal("v", (string)r["eksPropertiesOverride"]!["podProperties"]!["containers"]![0]!["env"]![0]!["value"]!);
        Assert.Equal("E", (string)r["ecsPropertiesOverride"]!["taskProperties"]![0]!["containers"]![0]!["environment"]![0]!["name"]!);
        Assert.Equal(1L, (long)r["consumableResourcePropertiesOverride"]!["consumableResourceList"]![0]!["quantity"]!);
        Assert.True((bool)r["propagateTags"]!);
        Assert.Equal(5, (int)r["schedulingPriorityOverride"]!);
        Assert.False(r.ContainsKey("taskToken"));
        Assert.False(r.ContainsKey("TaskToken"));
        Assert.Equal("token", Map(payload).TaskToken);
        // Nothing PascalCase is left anywhere but in map keys and values.
        Assert.DoesNotContain("\"Name\"", JsonText.ToText(r));
    }

    [Theory]
    [InlineData("""{"JobName":"j","JobQue":"q","JobDefinition":"d"}""", "JobQue: unknown member (did you mean JobQueue?)")]
    [InlineData("""{"JobName":"j","JobQueue":"q"}""", "JobDefinition: is required")]
    [InlineData("""{"JobName":5,"JobQueue":"q","JobDefinition":"d"}""", "JobName: must be a string, not a number")]
    [InlineData("""{"JobName":"j","JobQueue":"q","JobDefinition":"d","jobName":"x"}""", "jobName: unknown member (did you mean JobName?)")]
    [InlineData("""{"JobName":"j","JobQueue":"q","JobDefinition":"d","Parameters":{"a":1}}""", "Parameters.a: must be a string, not a number")]
    [InlineData("""{"JobName":"j","JobQueue":"q","JobDefinition":"d","Parameters":["a"]}""", "Parameters: must be an object of name/value pairs, not an array")]
    [InlineData("""{"JobName":"j","JobQueue":"q","JobDefinition":"d","ContainerOverrides":{"Enviroment":[]}}""", "ContainerOverrides.Enviroment: unknown member (did you mean Environment?)")]
    [InlineData("""{"JobName":"j","JobQueue":"q","JobDefinition":"d","ContainerOverrides":{"ResourceRequirements":[{"Type":"TPU","Value":"1"}]}}""", "ContainerOverrides.ResourceRequirements[0].Type: 'TPU' is not one of GPU, MEMORY, VCPU")]
    [InlineData("""{"JobName":"j","JobQueue":"q","JobDefinition":"d","ContainerOverrides":{"ResourceRequirements":[{"Value":"1"}]}}""", "ContainerOverrides.ResourceRequirements[0].Type: is required")]
    [InlineData("""{"JobName":"j","JobQueue":"q","JobDefinition":"d","Timeout":{"AttemptDurationSeconds":1.5}}""", "Timeout.AttemptDurationSeconds: must be a whole number (32-bit), not a number")]
    [InlineData("""{"JobName":"j","JobQueue":"q","JobDefinition":"d","Timeout":{"AttemptDurationSeconds":"60"}}""", "Timeout.AttemptDurationSeconds: must be a whole number (32-bit), not a string")]
    [InlineData("""{"JobName":"j","JobQueue":"q","JobDefinition":"d","PropagateTags":"true"}""", "PropagateTags: must be true or false, not a string")]
    [InlineData("""{"JobName":"j","JobQueue":"q","JobDefinition":"d","ShareIdentifier":null}""", "ShareIdentifier: must not be null (omit the member instead)")]
    [InlineData("""{"JobName":"j","JobQueue":"q","JobDefinition":"d","DependsOn":{"JobId":"x"}}""", "DependsOn: must be an array, not an object")]
    [InlineData("""{"JobName":"j","JobQueue":"q","JobDefinition":"d","ArrayProperties":[]}""", "ArrayProperties: must be an object, not an array")]
    [InlineData("""{"JobName":"j","JobQueue":"q","JobDefinition":"d","Parameters":{"BatchSyncTask":"x"}}""", "Parameters.BatchSyncTask: is reserved for BatchSync's own use")]
    [InlineData("""{"JobName":"j","JobQueue":"q","JobDefinition":"d","TaskToken":7}""", "TaskToken: must be a string (use \"TaskToken.$\": \"$$.Task.Token\"), not a number")]
    [InlineData("""{"JobName":"j","JobQueue":"q","JobDefinition":"d","TaskToken":""}""", "TaskToken: must be 1 to 2048 characters (is 0)")]
    [InlineData("""[1]""", "the payload must be a JSON object, not an array")]
    [InlineData("\"just a string\"", "the payload must be a JSON object, not a string")]
    public void Bad_input_is_named_precisely(string json, string expected)
    {
        Assert.Contains(expected, Problems(json));
    }

    [Fact]
    public void Several_problems_are_reported_together()
    {
        var problems = Problems("""{"JobQue":"q","JobName":1}""");
        Assert.Contains("JobQue: unknown member", problems);
        Assert.Contains("JobName: must be a string", problems);
        Assert.Contains("JobQueue: is required", problems);
        Assert.Contains("JobDefinition: is required", problems);
    }

    [Fact]
    public void Invalid_json_and_overlong_token_are_rejected()
    {
        Assert.Contains("the payload is not valid JSON", Problems("{\"JobName\": "));
        Assert.Contains("the payload is not valid JSON", InputProblem.Describe(SubmitRequestMapper.Map(new byte[] { 0x7B, 0xFF, 0xFE, 0x7D }).Problems));
        var deep = new string('[', 200) + new string(']', 200);
        Assert.Contains("the payload is not valid JSON", Problems(deep));
        var longToken = new string('t', 2049);
        var mapping = Map($$"""{"JobName":"j","JobQueue":"q","JobDefinition":"d","TaskToken":"{{longToken}}"}""");
        Assert.Contains("TaskToken: must be 1 to 2048 characters (is 2049)", InputProblem.Describe(mapping.Problems));
        Assert.Null(mapping.TaskToken);
    }

    [Fact]
    public void Token_is_kept_even_when_the_rest_is_invalid_so_the_failure_can_be_reported()
    {
        var mapping = Map("""{"JobQueue":"q","TaskToken":"abc"}""");
        Assert.False(mapping.IsValid);
        Assert.Equal("abc", mapping.TaskToken);
    }

    [Fact]
    public void The_marker_and_MANAGED_BY_AWS_are_added_as_the_request_is_written()
    {
        const string Token = ",\"TaskToken\":\"t\"";
        var plain = Request(Minimal[..^1] + Token + "}", "ns:key");
        Assert.Equal("""{"jobName":"j","jobQueue":"q","jobDefinition":"d","parameters":{"BatchSyncTask":"ns:key"}}""", JsonText.ToText(plain));
        // The marker needs the token, wherever the token is: here after Parameters.
        Assert.Equal("""{"parameters":{"p":"1","BatchSyncTask":"ns:key"},"jobName":"j","jobQueue":"q","jobDefinition":"d"}""",
            JsonText.ToText(Request("""{"Parameters":{"p":"1"},"JobName":"j","JobQueue":"q","JobDefinition":"d","TaskToken":"t"}""", "ns:key")));
        // Without a token nothing waits for the job's events: no marker.
        Assert.False(Request(Minimal, "ns:key").ContainsKey("parameters"));

        var withOverrides = Request("""{"JobName":"j","JobQueue":"q","JobDefinition":"d","Parameters":{"a":"b"},"ContainerOverrides":{"Environment":[{"Name":"X","Value":"1"}]},"TaskToken":"t"}""", "ns:key");
        Assert.Equal("""[{"name":"X","value":"1"},{"name":"MANAGED_BY_AWS","value":"STARTED_BY_STEP_FUNCTIONS"}]""", JsonText.ToText(withOverrides["containerOverrides"]!["environment"]!));
        Assert.Equal("""{"a":"b","BatchSyncTask":"ns:key"}""", JsonText.ToText(withOverrides["parameters"]!));

        var emptyOverrides = Request("""{"JobName":"j","JobQueue":"q","JobDefinition":"d","ContainerOverrides":{}}""");
        Assert.Equal("""{"environment":[{"name":"MANAGED_BY_AWS","value":"STARTED_BY_STEP_FUNCTIONS"}]}""", JsonText.ToText(emptyOverrides["containerOverrides"]!));
        Assert.False(emptyOverrides.ContainsKey("parameters"));

        var own = Request("""{"JobName":"j","JobQueue":"q","JobDefinition":"d","ContainerOverrides":{"Environment":[{"Name":"MANAGED_BY_AWS","Value":"me"}]}}""");
        Assert.Equal("""[{"name":"MANAGED_BY_AWS","value":"me"}]""", JsonText.ToText(own["containerOverrides"]!["environment"]!));

        // Only the top-level ContainerOverrides is the native integration's: a node's overrides are left as given.
        foreach (var other in new[] { "\"EcsPropertiesOverride\":{\"TaskProperties\":[]}", "\"EksPropertiesOverride\":{}", "\"NodeOverrides\":{\"NumNodes\":2,\"NodePropertyOverrides\":[{\"TargetNodes\":\"0:\",\"ContainerOverrides\":{\"Environment\":[]}}]}" })
        {
            var r = Request($$"""{"JobName":"j","JobQueue":"q","JobDefinition":"d",{{other}}}""");
            Assert.DoesNotContain("MANAGED_BY_AWS", JsonText.ToText(r));
        }
    }

    [Fact]
    public void The_request_keeps_what_BatchSync_records_and_the_marker_is_asked_for_with_the_token()
    {
        var draft = SubmitRequestMapper.Read(Fixtures.Utf8("""{"Parameters":{"a":"b"},"JobName":"j\u00e9","JobQueue":"q","JobDefinition":"d","TaskToken":"tok","ExecutionArn":"arn:aws:states:us-east-1:123456789012:execution:sm:run","StateName":"Run"}"""));
        Assert.Equal("tok", draft.TaskToken);
        var mapping = draft.WithMarker("ns:k");
        Assert.True(mapping.IsValid);
        var request = mapping.Request!;
        Assert.Equal(("jé", "q", "tok", "Run"), (request.JobName, request.JobQueue, request.TaskToken, request.StateName));
        Assert.Equal("arn:aws:states:us-east-1:123456789012:execution:sm:run", request.ExecutionArn);
        Assert.Equal("""{"parameters":{"a":"b","BatchSyncTask":"ns:k"},"jobName":"jé","jobQueue":"q","jobDefinition":"d"}""", System.Text.Encoding.UTF8.GetString(request.Body));
    }

    [Fact]
    public void A_draft_is_finished_before_the_next_read_on_the_thread()
    {
        var first = SubmitRequestMapper.Read(Fixtures.Utf8(Minimal));
        var second = SubmitRequestMapper.Read(Fixtures.Utf8("""{"JobName":"k","JobQueue":"q","JobDefinition":"d"}"""));
        Assert.Throws<InvalidOperationException>(() => first.WithMarker(null));
        Assert.Equal("k", second.WithMarker(null).Request!.JobName);
        // A payload that stopped before the request keeps its answer: it has no bytes to lose.
        var notJson = SubmitRequestMapper.Read(Fixtures.Utf8("{"));
        SubmitRequestMapper.Read(Fixtures.Utf8(Minimal));
        Assert.Contains("not valid JSON", InputProblem.Describe(notJson.WithMarker(null).Problems));
    }

    [Fact]
    public void Nothing_given_twice_is_silently_dropped()
    {
        Assert.Contains("Parameters.a: is given more than once", Problems("""{"JobName":"j","JobQueue":"q","JobDefinition":"d","Parameters":{"a":"1","b":"2","a":"3"}}"""));
        Assert.Contains("Parameters.a: is given more than once", Problems("""{"JobName":"j","JobQueue":"q","JobDefinition":"d","Parameters":{"a":"1","\u0061":"3"}}"""));
        Assert.Contains("JobName: is given more than once", Problems("""{"JobName":"j","JobQueue":"q","JobDefinition":"d","JobName":"k"}"""));
        var twice = Map("""{"JobName":"j","JobQueue":"q","JobDefinition":"d","TaskToken":"a","TaskToken":"b"}""");
        Assert.Contains("TaskToken: is given more than once", InputProblem.Describe(twice.Problems));
        Assert.Null(twice.TaskToken);
    }

    [Fact]
    public void Escaped_names_and_values_are_read_as_their_text()
    {
        var request = Request("""{"Job\u004eame":"a\"b","JobQueue":"q","JobDefinition":"d","Parameters":{"k\u00e9y":"v\n"}}""");
        Assert.Equal("a\"b", (string)request["jobName"]!);
        Assert.Equal("v\n", (string)request["parameters"]!["kéy"]!);
        Assert.Contains("Parameters.kéy: must be a string, not a number", Problems("""{"JobName":"j","JobQueue":"q","JobDefinition":"d","Parameters":{"k\u00e9y":1}}"""));
    }

    [Fact]
    public void Requests_Batch_would_refuse_or_fail_late_are_problems()
    {
        var bigOverrides = Map($$$"""{"JobName":"j","JobQueue":"q","JobDefinition":"d","ContainerOverrides":{"Command":["{{{new string('x', 9000)}}}"]}}""");
        Assert.Contains(bigOverrides.Problems, p => p.Path == "ContainerOverrides" && p.Message.Contains("8192"));
        // Counted in characters, as Batch counts them, not in UTF-8 bytes: 4,000 'é' are 8,000 bytes but fit.
        Assert.True(Map($$$"""{"JobName":"j","JobQueue":"q","JobDefinition":"d","ContainerOverrides":{"Command":["{{{new string('é', 4000)}}}"]}}""").IsValid);

        var bigRequest = Map($$$"""{"JobName":"j","JobQueue":"q","JobDefinition":"d","Parameters":{"a":"{{{new string('x', 31000)}}}"}}""");
        Assert.Contains(bigRequest.Problems, p => p.Message.Contains("Batch accepts at most 30720"));
        Assert.Null(bigRequest.Request);
    }
}
