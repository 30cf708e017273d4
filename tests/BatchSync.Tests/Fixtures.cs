using System.Text.Json;
using System.Text.Json.Nodes;

namespace BatchSync.Tests;

/// <summary>The copied fixtures (see Fixtures/SOURCES.md).</summary>
public static class Fixtures
{
    public static string PathOf(string relative) => Path.Combine(AppContext.BaseDirectory, "Fixtures", relative);

    public static byte[] Bytes(string relative) => File.ReadAllBytes(PathOf(relative));

    public static JsonNode Node(string relative) => JsonNode.Parse(File.ReadAllText(PathOf(relative)))!;

    public static JsonElement Element(string relative) => JsonDocument.Parse(File.ReadAllText(PathOf(relative))).RootElement.Clone();

    public static IEnumerable<string> BatchEvents() =>
        Directory.GetFiles(PathOf("batch-events"), "*.json").Select(f => Path.Combine("batch-events", Path.GetFileName(f))).Order();

    public static byte[] Utf8(string json) => System.Text.Encoding.UTF8.GetBytes(json);

    /// <summary>Asserts two JSON trees are equal including member order (JsonNode.DeepEquals ignores order).</summary>
    public static void AssertSameJson(JsonNode? expected, JsonNode? actual) =>
        Xunit.Assert.Equal(expected?.ToJsonString(), actual?.ToJsonString());
}
