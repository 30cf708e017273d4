using System.Text.Json;
using System.Text.Json.Nodes;
using BatchSync.Mapping;
using BatchSync.Model;

namespace BatchSync.Tests;

public class NativeOutputMapperTests
{
    /// <summary>
    /// Derives the wire (DescribeJobs) form of a native PascalCase JobDetail from the official model: structure
    /// members get their camelCase wire names, map keys stay. Member order is scrambled (reversed) on purpose.
    /// </summary>
    public static JsonNode? WireFromNative(JsonNode? native, string shapeName)
    {
        var shape = BatchShapes.Instance[shapeName];
        switch (native)
        {
            case JsonObject o when shape.Kind == ShapeKind.Structure:
                var wire = new JsonObject();
                foreach (var (name, value) in o.Reverse())
                {
                    var member = shape.MembersByPascal[name];
                    wire[member.WireName] = WireFromNative(value, member.ShapeName);
                }
                return wire;
            case JsonObject o when shape.Kind == ShapeKind.Map:
                var map = new JsonObject();
                foreach (var (name, value) in o)
                {
                    map[name] = WireFromNative(value, shape.Value!);
                }
                return map;
            case JsonArray a:
                return new JsonArray(a.Select(i => WireFromNative(i, shape.Member!)).ToArray());
            default:
                return native?.DeepClone();
        }
    }

    private static JsonElement Element(JsonNode node) => JsonDocument.Parse(node.ToJsonString()).RootElement.Clone();

    [Fact]
    public void Reproduces_the_real_native_success_output()
    {
        var expected = Fixtures.Node("native-sync/succeeded-output.json");
        var wire = WireFromNative(expected, "JobDetail")!;
        Assert.Contains("\"containerInstanceArn\"", wire.ToJsonString());

        var native = NativeOutputMapper.ToNative(Element(wire));

        Fixtures.AssertSameJson(expected, native);
    }

    [Fact]
    public void Reproduces_the_real_native_failure_cause_text_exactly()
    {
        var fixture = Fixtures.Node("native-sync/failed-error-cause.json");
        var cause = (string)fixture["Cause"]!;
        var wire = WireFromNative(JsonNode.Parse(cause), "JobDetail")!;

        var native = NativeOutputMapper.ToNative(Element(wire));

        Assert.Equal(cause, OutputBudget.FitCause(native));
        Assert.Equal("States.TaskFailed", (string)fixture["Error"]!);
    }

    [Fact]
    public void Removes_the_BatchSync_marker_and_keeps_user_parameters()
    {
        var wire = JsonNode.Parse("""{"jobId":"1","parameters":{"BatchSyncTask":"ns:k","InputFile":"a"},"status":"SUCCEEDED"}""")!;
        var native = NativeOutputMapper.ToNative(Element(wire));
        Assert.Equal("""{"JobId":"1","Parameters":{"InputFile":"a"},"Status":"SUCCEEDED"}""", native.ToJsonString());
    }

    [Fact]
    public void Drops_nulls_keeps_unknown_members_under_PascalCase_names()
    {
        var wire = JsonNode.Parse("""{"status":"FAILED","statusReason":null,"jobId":"1","someFutureMember":{"innerKey":1}}""")!;
        var native = NativeOutputMapper.ToNative(Element(wire));
        Assert.Equal("""{"JobId":"1","SomeFutureMember":{"innerKey":1},"Status":"FAILED"}""", native.ToJsonString());
    }

    public static TheoryData<string> EventFixtures() => new(Fixtures.BatchEvents());

    [Theory]
    [MemberData(nameof(EventFixtures))]
    public void Every_real_event_detail_maps_to_sorted_PascalCase_with_map_keys_untouched(string fixture)
    {
        var detail = Fixtures.Element(fixture).GetProperty("detail");
        var native = NativeOutputMapper.ToNative(detail);

        AssertNative(native, "JobDetail");
        Assert.Equal(detail.GetProperty("jobId").GetString(), (string)native["JobId"]!);
        // Map keys as sent: the tags map of these events holds a lower-case "resourceArn" key.
        if (detail.GetProperty("tags").TryGetProperty("resourceArn", out _))
        {
            Assert.NotNull(native["Tags"]!["resourceArn"]);
        }
    }

    [Fact]
    public void EcsProperties_jobs_without_container_map_fully()
    {
        var native = NativeOutputMapper.ToNative(Fixtures.Element("batch-events/succeeded-ecs-properties.json").GetProperty("detail"));
        Assert.Null(native["Container"]);
        var container = native["EcsProperties"]!["TaskProperties"]![0]!["Containers"]![0]!;
        Assert.Equal("cpu-stress-container", (string)container["Name"]!);
        Assert.Equal("ENVIRONMENT", (string)container["Environment"]![0]!["Name"]!);
        Assert.Equal("1", (string)native["Parameters"]!["stressMinutes"]!);
        Assert.Equal(0, (int)native["Attempts"]![0]!["TaskProperties"]![0]!["Containers"]![0]!["ExitCode"]!);
    }

    [Theory]
    [MemberData(nameof(EventFixtures))]
    public void The_streaming_writer_matches_the_node_mapper(string fixture)
    {
        var detail = Fixtures.Element(fixture).GetProperty("detail");
        Assert.Equal(JsonText.ToText(NativeOutputMapper.ToNative(detail)), System.Text.Encoding.UTF8.GetString(NativeOutputMapper.ToNativeUtf8(detail)));
        var withResult = NativeOutputMapper.WithResult(NativeOutputMapper.ToNative(detail), JsonNode.Parse("""{"b":[1,null],"a":"é"}"""));
        Assert.Equal(JsonText.ToText(withResult), System.Text.Encoding.UTF8.GetString(NativeOutputMapper.ToNativeUtf8(detail, """{"b":[1,null],"a":"é"}""")));
    }

    [Theory]
    [InlineData("""{"zNewMember":1,"status":"FAILED","aNewMember":{"x":null},"jobId":"1","Status":"dup","parameters":{"k":null,"b":"2"}}""")]
    [InlineData("""{"job\u0049d":"esc","jobName":"caf\u00e9 \"quoted\" \/ \t","jobQueue":"é ünïcode ✓","tags":{"ключ":"значение","a\u0062":"c"}}""")]
    [InlineData("""{"jobId":"n","createdAt":1.0e3,"startedAt":-0,"stoppedAt":12345678901234,"isCancelled":true,"isTerminated":false,"result":"old"}""")]
    [InlineData("""{"jobId":"l","attempts":[{"container":{"exitCode":1,"networkInterfaces":[{"attachmentId":"a","futureField":[1,{"b":2}]}]}},{}],"dependsOn":[]}""")]
    [InlineData("""{"jobId":"s","container":{"environment":[{"name":"E","value":"\ud83d\ude00 emoji"}],"command":["a","\u0000b"]}}""")]
    public void The_streaming_writer_matches_the_node_mapper_on_edge_cases(string detailJson)
    {
        // Parsed from the text as written, so the writer meets the raw escapes and non-ASCII bytes themselves.
        var detail = JsonDocument.Parse(detailJson).RootElement;
        Assert.Equal(JsonText.ToText(NativeOutputMapper.ToNative(detail)), System.Text.Encoding.UTF8.GetString(NativeOutputMapper.ToNativeUtf8(detail)));
        var withResult = NativeOutputMapper.WithResult(NativeOutputMapper.ToNative(detail), JsonNode.Parse("""{"r":1}"""));
        Assert.Equal(JsonText.ToText(withResult), System.Text.Encoding.UTF8.GetString(NativeOutputMapper.ToNativeUtf8(detail, """{"r":1}""")));
    }

    [Fact]
    public void The_streaming_writer_reproduces_the_real_native_outputs()
    {
        var expected = Fixtures.Node("native-sync/succeeded-output.json");
        var wire = Element(WireFromNative(expected, "JobDetail")!);
        Assert.Equal(expected.ToJsonString(), JsonNode.Parse(BatchSync.Processing.TaskResponder.NativeOutput(wire, null))!.ToJsonString());
        var cause = (string)Fixtures.Node("native-sync/failed-error-cause.json")["Cause"]!;
        Assert.Equal(cause, BatchSync.Processing.TaskResponder.NativeCause(Element(WireFromNative(JsonNode.Parse(cause), "JobDetail")!)));
        var marked = Element(JsonNode.Parse("""{"jobId":"1","parameters":{"BatchSyncTask":"ns:k","a":"b"},"x":null}""")!);
        Assert.Equal("""{"JobId":"1","Parameters":{"a":"b"}}""", BatchSync.Processing.TaskResponder.NativeOutput(marked, null));
    }

    [Fact]
    public void WithResult_places_Result_in_alphabetical_order()
    {
        var native = NativeOutputMapper.ToNative(Element(JsonNode.Parse("""{"jobId":"1","status":"SUCCEEDED","parameters":{}}""")!));
        var combined = NativeOutputMapper.WithResult(native, JsonNode.Parse("""{"rows":3}"""));
        Assert.Equal("""{"JobId":"1","Parameters":{},"Result":{"rows":3},"Status":"SUCCEEDED"}""", combined.ToJsonString());
    }

    private static void AssertNative(JsonNode? node, string shapeName)
    {
        var shape = BatchShapes.Instance[shapeName];
        switch (node)
        {
            case JsonObject o when shape.Kind == ShapeKind.Structure:
                var names = o.Select(p => p.Key).ToList();
                Assert.Equal(names.Order(StringComparer.Ordinal), names);
                foreach (var (name, value) in o)
                {
                    Assert.True(char.IsUpper(name[0]), $"{shapeName}.{name} is not PascalCase");
                    Assert.NotEqual(SubmitRequestMapper.MarkerParameter, name);
                    if (shape.MembersByPascal.TryGetValue(name, out var member))
                    {
                        AssertNative(value, member.ShapeName);
                    }
                }
                break;
            case JsonObject o when shape.Kind == ShapeKind.Map:
                foreach (var (_, value) in o)
                {
                    AssertNative(value, shape.Value!);
                }
                break;
            case JsonArray a:
                foreach (var item in a)
                {
                    AssertNative(item, shape.Member!);
                }
                break;
        }
    }
}
