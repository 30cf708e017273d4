using System.Text.Json;
using System.Text.Json.Nodes;
using BatchSync.Domain;
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

    /// <summary>The native output of a wire JobDetail, as the writer gives it, parsed back.</summary>
    private static JsonObject Native(JsonElement jobDetail) =>
        JsonNode.Parse(NativeOutputMapper.ToNativeText(jobDetail, OutputBudget.Output))!.AsObject();

    [Fact]
    public void Reproduces_the_real_native_success_output()
    {
        var expected = Fixtures.Node("native-sync/succeeded-output.json");
        var wire = WireFromNative(expected, "JobDetail")!;
        Assert.Contains("\"containerInstanceArn\"", wire.ToJsonString());

        var native = Native(Element(wire));

        Fixtures.AssertSameJson(expected, native);
    }

    [Fact]
    public void Reproduces_the_real_native_failure_cause_text_exactly()
    {
        var fixture = Fixtures.Node("native-sync/failed-error-cause.json");
        var cause = (string)fixture["Cause"]!;
        var wire = WireFromNative(JsonNode.Parse(cause), "JobDetail")!;

        Assert.Equal(cause, NativeOutputMapper.ToNativeText(Element(wire), OutputBudget.Cause));
        Assert.Equal("States.TaskFailed", (string)fixture["Error"]!);
    }

    [Fact]
    public void Removes_the_BatchSync_marker_and_keeps_user_parameters()
    {
        var wire = JsonNode.Parse("""{"jobId":"1","parameters":{"BatchSyncTask":"ns:k","InputFile":"a"},"status":"SUCCEEDED"}""")!;
        Assert.Equal("""{"JobId":"1","Parameters":{"InputFile":"a"},"Status":"SUCCEEDED"}""", NativeOutputMapper.ToNativeText(Element(wire), OutputBudget.Output));
    }

    [Fact]
    public void Drops_nulls_keeps_unknown_members_under_PascalCase_names()
    {
        var wire = JsonNode.Parse("""{"status":"FAILED","statusReason":null,"jobId":"1","someFutureMember":{"innerKey":1}}""")!;
        Assert.Equal("""{"JobId":"1","SomeFutureMember":{"innerKey":1},"Status":"FAILED"}""", NativeOutputMapper.ToNativeText(Element(wire), OutputBudget.Output));
    }

    public static TheoryData<string> EventFixtures() => new(Fixtures.BatchEvents());

    [Theory]
    [MemberData(nameof(EventFixtures))]
    public void Every_real_event_detail_maps_to_sorted_PascalCase_with_map_keys_untouched(string fixture)
    {
        var detail = Fixtures.Element(fixture).GetProperty("detail");
        var native = Native(detail);

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
        var native = Native(Fixtures.Element("batch-events/succeeded-ecs-properties.json").GetProperty("detail"));
        Assert.Null(native["Container"]);
        var container = native["EcsProperties"]!["TaskProperties"]![0]!["Containers"]![0]!;
        Assert.Equal("cpu-stress-container", (string)container["Name"]!);
        Assert.Equal("ENVIRONMENT", (string)container["Environment"]![0]!["Name"]!);
        Assert.Equal("1", (string)native["Parameters"]!["stressMinutes"]!);
        Assert.Equal(0, (int)native["Attempts"]![0]!["TaskProperties"]![0]!["Containers"]![0]!["ExitCode"]!);
    }

    [Theory]
    [MemberData(nameof(EventFixtures))]
    public void Every_real_event_detail_is_all_there_once_mapped_back_through_the_model(string fixture)
    {
        var detail = Fixtures.Element(fixture).GetProperty("detail");
        var text = NativeOutputMapper.ToNativeText(detail, OutputBudget.Output);
        var native = JsonNode.Parse(text)!;

        // The model's inverse (PascalCase back to wire names) gives the event's detail again: nothing lost, added or changed.
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(detail.GetRawText()), WireFromNative(native, "JobDetail")), fixture);
        Assert.Equal(JsonText.ToText(native), text); // compact, non-ASCII left readable
    }

    [Theory]
    [MemberData(nameof(EventFixtures))]
    public void A_Result_takes_its_sorted_place_and_leaves_the_rest_as_it_was(string fixture)
    {
        var detail = Fixtures.Element(fixture).GetProperty("detail");
        var plain = NativeOutputMapper.ToNativeText(detail, OutputBudget.Output);
        var withResult = JsonNode.Parse(NativeOutputMapper.ToNativeText(detail, OutputBudget.Output, """{"b":[1,null],"a":"é"}"""))!.AsObject();

        Assert.Equal("""{"b":[1,null],"a":"é"}""", JsonText.ToText(withResult["Result"]!));
        var names = withResult.Select(p => p.Key).ToList();
        Assert.Equal(names.Order(StringComparer.Ordinal), names);
        withResult.Remove("Result");
        Assert.Equal(plain, JsonText.ToText(withResult));
    }

    [Theory]
    [InlineData("""{"zNewMember":1,"status":"FAILED","aNewMember":{"x":null},"jobId":"1","Status":"dup","parameters":{"k":null,"b":"2"}}""",
        """{"ANewMember":{"x":null},"JobId":"1","Parameters":{"k":null,"b":"2"},"Status":"FAILED","ZNewMember":1}""")]
    [InlineData("""{"job\u0049d":"esc","jobName":"caf\u00e9 \"quoted\" \/ \t","jobQueue":"é ünïcode ✓","tags":{"ключ":"значение","a\u0062":"c"}}""",
        """{"JobId":"esc","JobName":"café \"quoted\" / \t","JobQueue":"é ünïcode ✓","Tags":{"ключ":"значение","ab":"c"}}""")]
    [InlineData("""{"jobId":"n","createdAt":1.0e3,"startedAt":-0,"stoppedAt":12345678901234,"isCancelled":true,"isTerminated":false,"result":"old"}""",
        """{"CreatedAt":1.0e3,"IsCancelled":true,"IsTerminated":false,"JobId":"n","Result":"old","StartedAt":-0,"StoppedAt":12345678901234}""")]
    [InlineData("""{"jobId":"l","attempts":[{"container":{"exitCode":1,"networkInterfaces":[{"attachmentId":"a","futureField":[1,{"b":2}]}]}},{}],"dependsOn":[]}""",
        """{"Attempts":[{"Container":{"ExitCode":1,"NetworkInterfaces":[{"AttachmentId":"a","FutureField":[1,{"b":2}]}]}},{}],"DependsOn":[],"JobId":"l"}""")]
    [InlineData("""{"jobId":"s","container":{"environment":[{"name":"E","value":"\ud83d\ude00 emoji"}],"command":["a","\u0000b"]}}""",
        """{"Container":{"Command":["a","\u0000b"],"Environment":[{"Name":"E","Value":"\uD83D\uDE00 emoji"}]},"JobId":"s"}""")]
    public void Edge_cases_are_written_as_Step_Functions_shows_them(string detailJson, string expected)
    {
        // Parsed from the text as written, so the writer meets the raw escapes and non-ASCII bytes themselves.
        var detail = JsonDocument.Parse(detailJson).RootElement;
        Assert.Equal(expected, NativeOutputMapper.ToNativeText(detail, OutputBudget.Output));
    }

    [Fact]
    public void A_Result_replaces_a_JobDetail_member_of_that_name()
    {
        var detail = JsonDocument.Parse("""{"jobId":"n","result":"old","status":"SUCCEEDED"}""").RootElement;
        Assert.Equal("""{"JobId":"n","Result":{"r":1},"Status":"SUCCEEDED"}""", NativeOutputMapper.ToNativeText(detail, OutputBudget.Output, """{"r":1}"""));
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
    public void A_Result_is_placed_in_alphabetical_order()
    {
        var detail = Element(JsonNode.Parse("""{"jobId":"1","status":"SUCCEEDED","parameters":{}}""")!);
        Assert.Equal("""{"JobId":"1","Parameters":{},"Result":{"rows":3},"Status":"SUCCEEDED"}""", NativeOutputMapper.ToNativeText(detail, OutputBudget.Output, """{"rows":3}"""));
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
                    Assert.NotEqual(TaskKey.MarkerParameter, name);
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
